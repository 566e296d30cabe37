import Foundation
import GRDB
import GRDBSQLite
import SluiceCore

/// A cached statement driven through SQLite's C API: typed binds and column reads without
/// GRDB's per-row dictionaries and boxed values. Used on the transition path only, where the
/// overhead of the general API was most of the cost of a write (see docs/benchmarks.md).
///
/// Reads are sequential: each `next…` call reads the following column of the current row.
struct RawStatement {
    private let statement: Statement
    private let database: Database
    private var column: Int32 = 0
    private var parameter: Int32 = 0

    /// Takes the cached statement for `sql`, reset and with no bindings.
    init(_ database: Database, _ sql: String) throws {
        self.database = database
        self.statement = try database.cachedStatement(sql: sql)
        sqlite3_reset(statement.sqliteStatement)
        sqlite3_clear_bindings(statement.sqliteStatement)
    }

    private var handle: OpaquePointer { statement.sqliteStatement }

    // MARK: - Binding, in parameter order

    mutating func bind(_ value: String?) {
        parameter += 1
        if let value {
            sqlite3_bind_text(handle, parameter, value, -1, RawStatement.transient)
        } else {
            sqlite3_bind_null(handle, parameter)
        }
    }

    mutating func bind(_ value: Int?) {
        parameter += 1
        if let value {
            sqlite3_bind_int64(handle, parameter, Int64(value))
        } else {
            sqlite3_bind_null(handle, parameter)
        }
    }

    mutating func bind(_ value: Bool) {
        parameter += 1
        sqlite3_bind_int64(handle, parameter, value ? 1 : 0)
    }

    mutating func bind(json value: String) { bind(value) }

    // MARK: - Stepping

    /// Steps once: true when a row is available to read.
    mutating func step() throws -> Bool {
        column = 0
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            let message = String(cString: sqlite3_errmsg(database.sqliteConnection))
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
    }

    /// Runs a statement that returns no rows.
    mutating func execute() throws {
        defer { sqlite3_reset(handle) }
        _ = try step()
    }

    /// Ends the reading of rows, releasing the statement.
    func finish() { sqlite3_reset(handle) }

    // MARK: - Reading, in column order

    mutating func nextText() -> String? {
        defer { column += 1 }
        guard sqlite3_column_type(handle, column) != SQLITE_NULL, let bytes = sqlite3_column_text(handle, column) else {
            return nil
        }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    mutating func nextInt() -> Int? {
        defer { column += 1 }
        guard sqlite3_column_type(handle, column) != SQLITE_NULL else { return nil }
        return Int(sqlite3_column_int64(handle, column))
    }

    mutating func nextBool() -> Bool { (nextInt() ?? 0) != 0 }

    mutating func nextString(_ name: String) throws -> String {
        guard let text = nextText() else { throw Column.corrupt(name) }
        return text
    }

    mutating func nextTimestamp(_ name: String) throws -> Timestamp { try Timestamp(parsing: nextString(name)) }

    mutating func nextOptionalTimestamp() throws -> Timestamp? { try nextText().map(Timestamp.init(parsing:)) }

    mutating func nextID<Kind>(_ name: String) throws -> Identifier<Kind> { try Identifier(parsing: nextString(name)) }

    mutating func nextOptionalID<Kind>() throws -> Identifier<Kind>? { try nextText().map(Identifier.init(parsing:)) }

    mutating func nextEnum<E: RawRepresentable>(_ name: String) throws -> E where E.RawValue == String {
        guard let value = E(rawValue: try nextString(name)) else { throw Column.corrupt(name) }
        return value
    }

    mutating func nextStrings(_ name: String) throws -> [String] {
        let text = try nextString(name)
        if text == "[]" { return [] }
        if let strings = RawStatement.simpleStringArray(text) { return strings }
        return try SluiceJSON.decode([String].self, from: Data(text.utf8), what: "column \(name)")
    }

    /// Parses `["a","b"]` when no string holds an escape (the common case for paths); nil otherwise,
    /// and the caller falls back to the full decoder.
    static func simpleStringArray(_ text: String) -> [String]? {
        let bytes = Array(text.utf8)
        guard bytes.first == UInt8(ascii: "["), bytes.last == UInt8(ascii: "]"), !bytes.contains(UInt8(ascii: "\\"))
        else { return nil }
        var strings: [String] = []
        var index = 1
        while index < bytes.count - 1 {
            guard bytes[index] == UInt8(ascii: "\"") else { return nil }
            guard let end = bytes[(index + 1)...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
            strings.append(String(decoding: bytes[(index + 1)..<end], as: UTF8.self))
            index = end + 1
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if index != bytes.count - 1 {
                return nil
            }
        }
        return strings
    }

    /// SQLite copies the bound text before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

extension RawStatement: ColumnBinder {}
