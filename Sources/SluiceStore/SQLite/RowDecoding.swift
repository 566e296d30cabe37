import Foundation
import GRDB
import SluiceCore

/// Helpers that turn column values back into domain values, failing loudly on corruption.
enum Column {
    static func string(_ row: Row, _ name: String) throws -> String {
        guard let value: String = row[name] else { throw corrupt(name) }
        return value
    }

    static func timestamp(_ row: Row, _ name: String) throws -> Timestamp {
        try Timestamp(parsing: string(row, name))
    }

    static func optionalTimestamp(_ row: Row, _ name: String) throws -> Timestamp? {
        guard let text: String = row[name] else { return nil }
        return try Timestamp(parsing: text)
    }

    static func id<Kind>(_ row: Row, _ name: String) throws -> Identifier<Kind> {
        try Identifier(parsing: string(row, name))
    }

    static func optionalID<Kind>(_ row: Row, _ name: String) throws -> Identifier<Kind>? {
        guard let text: String = row[name] else { return nil }
        return try Identifier(parsing: text)
    }

    static func enumeration<E: RawRepresentable>(_ row: Row, _ name: String) throws -> E where E.RawValue == String {
        let raw = try string(row, name)
        guard let value = E(rawValue: raw) else { throw corrupt(name) }
        return value
    }

    static func json<T: Decodable>(_ row: Row, _ name: String, as type: T.Type) throws -> T {
        try SluiceJSON.decode(type, from: Data(string(row, name).utf8), what: "column \(name)")
    }

    static func optionalJSON<T: Decodable>(_ row: Row, _ name: String, as type: T.Type) throws -> T? {
        guard let text: String = row[name] else { return nil }
        return try SluiceJSON.decode(type, from: Data(text.utf8), what: "column \(name)")
    }

    static func corrupt(_ name: String) -> SluiceError {
        SluiceError(code: .storage, message: "the database holds an invalid value in column \(name)")
    }
}

extension Encodable {
    /// Compact JSON text with sorted keys, for a JSON column.
    var jsonColumn: String {
        (try? SluiceJSON.line(self)) ?? "null"
    }
}
