import Foundation
import NIOCore
import PostgresNIO
import SluiceCore
import SluiceStore

/// Text bound as a `json` parameter: the database checks it, and keeps it byte for byte.
struct JSONText: PostgresNonThrowingEncodable {
    let text: String

    static var psqlType: PostgresDataType { .json }
    static var psqlFormat: PostgresFormat { .text }

    func encode<JSONEncoder: PostgresJSONEncoder>(
        into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>
    ) {
        byteBuffer.writeString(text)
    }
}

/// The parameters of one statement, in order, from domain values.
struct Binds {
    private(set) var bindings = PostgresBindings()

    init() {}

    var count: Int { bindings.count }

    mutating func add(_ value: String?) { bindings.append(value) }
    mutating func add<Kind>(_ value: Identifier<Kind>?) { bindings.append(value?.description) }
    mutating func add(_ value: Timestamp?) { bindings.append(value?.description) }
    mutating func add(_ value: Int64?) { bindings.append(value) }
    mutating func add(_ value: Int?) { bindings.append(value.map(Int64.init)) }
    mutating func add(_ value: Double?) { bindings.append(value) }
    mutating func add(_ value: Bool) { bindings.append(value) }
    mutating func add(json value: String?) { bindings.append(value.map(JSONText.init)) }
    mutating func add(bytes value: [UInt8]) { bindings.append(ByteBuffer(bytes: value)) }
}

/// A row read column by column, in the order its SELECT names them.
struct Cells {
    private let row: PostgresRandomAccessRow
    private var index = 0

    init(_ row: PostgresRow) {
        self.row = PostgresRandomAccessRow(row)
    }

    private mutating func next<T: PostgresDecodable>(_: T.Type) throws -> T {
        let cell = row[index]
        index += 1
        do {
            return try cell.decode(T.self)
        } catch {
            throw Cells.corrupt(cell.columnName)
        }
    }

    mutating func text() throws -> String? { try next(String?.self) }
    mutating func string() throws -> String {
        let name = row[index].columnName
        return try text().orThrow(Cells.corrupt(name))
    }
    mutating func int64() throws -> Int64 { try next(Int64.self) }
    mutating func optionalInt64() throws -> Int64? { try next(Int64?.self) }
    mutating func int() throws -> Int { Int(try int64()) }
    mutating func optionalInt() throws -> Int? { try optionalInt64().map(Int.init) }
    mutating func double() throws -> Double { try next(Double.self) }
    mutating func optionalDouble() throws -> Double? { try next(Double?.self) }
    mutating func bool() throws -> Bool { try next(Bool.self) }
    mutating func bytes() throws -> [UInt8] {
        var buffer = try next(ByteBuffer.self)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    mutating func timestamp() throws -> Timestamp { try Timestamp(parsing: string()) }
    mutating func optionalTimestamp() throws -> Timestamp? { try text().map(Timestamp.init(parsing:)) }
    mutating func id<Kind>() throws -> Identifier<Kind> { try Identifier(parsing: string()) }
    mutating func optionalID<Kind>() throws -> Identifier<Kind>? { try text().map(Identifier.init(parsing:)) }

    mutating func enumeration<E: RawRepresentable>() throws -> E where E.RawValue == String {
        let name = row[index].columnName
        return try E(rawValue: string()).orThrow(Cells.corrupt(name))
    }

    mutating func json<T: Decodable>(_ type: T.Type) throws -> T {
        let name = row[index].columnName
        return try SluiceJSON.decode(type, from: Data(string().utf8), what: "column \(name)")
    }

    mutating func optionalJSON<T: Decodable>(_ type: T.Type) throws -> T? {
        let name = row[index].columnName
        return try text().map { try SluiceJSON.decode(type, from: Data($0.utf8), what: "column \(name)") }
    }

    /// A JSON object; the empty object skips the decoder.
    mutating func object() throws -> [String: JSONValue] {
        let name = row[index].columnName
        let text = try string()
        return text == "{}"
            ? [:] : try SluiceJSON.decode([String: JSONValue].self, from: Data(text.utf8), what: "column \(name)")
    }

    mutating func strings() throws -> [String] { try json([String].self) }

    static func corrupt(_ name: String) -> SluiceError {
        SluiceError(code: .storage, message: "the database holds an invalid value in column \(name)")
    }
}

extension Binds: ColumnBinder {
    mutating func bind(_ value: String?) { add(value) }
    mutating func bind(_ value: Int?) { add(value) }
    mutating func bind(_ value: Bool) { add(value) }
    mutating func bind(json value: String) { add(json: value) }
}
