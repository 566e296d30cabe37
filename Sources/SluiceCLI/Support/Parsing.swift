import Foundation
import SluiceCore

/// Turns command-line text into domain values, with errors that name the option.
enum Parse {
    static func id<Kind>(_ text: String, as _: Identifier<Kind>.Type = Identifier<Kind>.self) throws -> Identifier<Kind>
    {
        try Identifier<Kind>(parsing: text)
    }

    static func optionalID<Kind>(_ text: String?) throws -> Identifier<Kind>? {
        try text.map { try Identifier<Kind>(parsing: $0) }
    }

    /// An id of any kind, in its canonical upper-case form.
    static func ulid(_ text: String, option: String) throws -> ULID {
        do {
            return try ULID(parsing: text)
        } catch let error as SluiceError {
            throw SluiceError.invalidInput("\(option): \(error.message)")
        }
    }

    static func enumeration<E: RawRepresentable & CaseIterable>(_ text: String, option: String) throws -> E
    where E.RawValue == String {
        guard let value = E(rawValue: text) else {
            let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
            throw SluiceError.invalidInput("unknown value '\(text)' for \(option); expected one of: \(allowed)")
        }
        return value
    }

    static func optionalEnumeration<E: RawRepresentable & CaseIterable>(_ text: String?, option: String) throws -> E?
    where E.RawValue == String {
        try text.map { try enumeration($0, option: option) }
    }

    static func amount(_ text: String, option: String) throws -> ExactDecimal {
        do {
            return try ExactDecimal(parsing: text)
        } catch let error as SluiceError {
            throw SluiceError.invalidInput("\(option): \(error.message)")
        }
    }

    static func object(_ text: String?, option: String) throws -> [String: JSONValue] {
        guard let text else { return [:] }
        return try JSONValue.parseObject(text, what: option)
    }

    /// A number of seconds from 0 to `maximum` (a year unless given).
    static func seconds(_ text: String, option: String, maximum: Double = WorkerStatistics.maxTaskSeconds) throws
        -> Double
    {
        guard let value = Double(text), value.isFinite, (0...maximum).contains(value) else {
            throw SluiceError.invalidInput(
                "\(option) must be a number of seconds from 0 to \(Int(maximum)), got '\(text)'")
        }
        return value
    }

    /// A whole number within `range`, naming the option when it is not.
    static func integer(_ value: Int?, option: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let value else { return nil }
        guard range.contains(value) else {
            throw SluiceError.invalidInput(
                "\(option) must be from \(range.lowerBound) to \(range.upperBound), got \(value)")
        }
        return value
    }

    /// Reads a file, or standard input for `-`, up to `limit` bytes and one more: the caller refuses
    /// what is longer, and the rest is never read.
    static func contents(of path: String, option: String, limit: Int) throws -> Data {
        do {
            if path == "-" { return try Console.current.readStandardInput(limit: limit) }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                throw SluiceError.invalidInput("\(option): '\(path)' is a folder, not a file")
            }
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw SluiceError.invalidInput("\(option): cannot read '\(path)'")
            }
            defer { try? handle.close() }
            return try Console.read(handle, limit: limit)
        } catch let error as SluiceError {
            throw error
        } catch {
            throw SluiceError.invalidInput("\(option): cannot read '\(path)': \(error.localizedDescription)")
        }
    }

    /// Reads a file, or standard input for `-`.
    static func contents(of path: String, option: String) throws -> Data {
        if path == "-" { return Console.current.readStandardInput() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SluiceError.invalidInput("\(option): cannot read '\(path)'")
        }
        return data
    }
}
