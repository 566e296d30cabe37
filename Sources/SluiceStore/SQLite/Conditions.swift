import GRDB

/// A WHERE clause of equality tests on only the columns a filter sets.
///
/// The catch-all form `(?1 IS NULL OR column = ?1)` keeps one statement for every filter, but
/// SQLite plans it once, without knowing which parameters will be NULL, so it scans the whole
/// table even when an index covers the column asked for. Each shape of clause here is its own
/// cached statement (a filter of n optional columns has at most 2ⁿ shapes).
struct Conditions {
    private var terms: [String] = []
    private(set) var arguments: [String] = []

    init() {}

    /// Adds `column = value` when `value` is given.
    mutating func equal(_ column: String, _ value: String?) {
        guard let value else { return }
        terms.append("\(column) = ?")
        arguments.append(value)
    }

    /// Adds a condition whose parameters the caller binds itself, after ``arguments``.
    mutating func add(_ term: String) {
        terms.append(term)
    }

    /// `WHERE …`, or nothing when no column is tested.
    var sql: String { terms.isEmpty ? "" : "WHERE " + terms.joined(separator: " AND ") }

    var statementArguments: StatementArguments { StatementArguments(arguments) }
}
