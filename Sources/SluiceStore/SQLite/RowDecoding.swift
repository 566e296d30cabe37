import Foundation
import GRDB
import SluiceCore

/// The columns a SELECT names, in order, with each name's position; reading by position avoids
/// GRDB's case-insensitive search of the row for every value.
struct ColumnSet: Sendable {
    let names: [String]
    let index: [String: Int]
    /// The names joined for a SELECT list.
    let sql: String

    init(_ names: [String]) {
        self.names = names
        self.index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        self.sql = names.joined(separator: ", ")
    }

    /// One `?` per column, for a VALUES list in this order.
    var placeholders: String { names.map { _ in "?" }.joined(separator: ", ") }
    /// `name = ?` for each column, for an UPDATE's SET in this order.
    var assignments: String { names.map { "\($0) = ?" }.joined(separator: ", ") }
}

/// A row read through its ``ColumnSet``.
struct RowReader {
    let row: Row
    let columns: ColumnSet

    init(_ row: Row, _ columns: ColumnSet) {
        self.row = row
        self.columns = columns
    }

    private func position(_ name: String) -> Int {
        guard let index = columns.index[name] else { preconditionFailure("column \(name) is not selected") }
        return index
    }

    /// The value in the named column; ask for an optional type where the column may be NULL.
    subscript<Value: DatabaseValueConvertible>(_ name: String) -> Value { row[position(name)] }
}

/// Helpers that turn column values back into domain values, failing loudly on corruption.
enum Column {
    static func string(_ row: RowReader, _ name: String) throws -> String {
        guard let value = row[name] as String? else { throw corrupt(name) }
        return value
    }

    static func timestamp(_ row: RowReader, _ name: String) throws -> Timestamp {
        try Timestamp(parsing: string(row, name))
    }

    static func optionalTimestamp(_ row: RowReader, _ name: String) throws -> Timestamp? {
        guard let text = row[name] as String? else { return nil }
        return try Timestamp(parsing: text)
    }

    static func id<Kind>(_ row: RowReader, _ name: String) throws -> Identifier<Kind> {
        try Identifier(parsing: string(row, name))
    }

    static func optionalID<Kind>(_ row: RowReader, _ name: String) throws -> Identifier<Kind>? {
        guard let text = row[name] as String? else { return nil }
        return try Identifier(parsing: text)
    }

    static func enumeration<E: RawRepresentable>(_ row: RowReader, _ name: String) throws -> E
    where E.RawValue == String {
        let raw = try string(row, name)
        guard let value = E(rawValue: raw) else { throw corrupt(name) }
        return value
    }

    static func json<T: Decodable>(_ row: RowReader, _ name: String, as type: T.Type) throws -> T {
        try SluiceJSON.decode(type, from: Data(string(row, name).utf8), what: "column \(name)")
    }

    static func optionalJSON<T: Decodable>(_ row: RowReader, _ name: String, as type: T.Type) throws -> T? {
        guard let text = row[name] as String? else { return nil }
        return try SluiceJSON.decode(type, from: Data(text.utf8), what: "column \(name)")
    }

    /// A JSON object; the empty object skips the decoder.
    static func object(_ row: RowReader, _ name: String) throws -> [String: JSONValue] {
        let text = try string(row, name)
        return text == "{}"
            ? [:] : try SluiceJSON.decode([String: JSONValue].self, from: Data(text.utf8), what: "column \(name)")
    }

    static func corrupt(_ name: String) -> SluiceError {
        SluiceError(code: .storage, message: "the database holds an invalid value in column \(name)")
    }
}
