/// A small, fast pull scanner for the XML that test tools write: start and end tags with
/// attributes, text and CDATA; comments, processing instructions and DOCTYPEs are skipped.
/// It does not validate the document; the report parsers check what they need.
struct XMLScanner {
    enum Token {
        case start(name: String, attributes: [String: String], selfClosing: Bool)
        case end(name: String)
        case text(String)
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// The next token, nil at the end. - Throws: ``ReportError`` for a tag that never closes.
    mutating func next() throws -> Token? {
        while index < bytes.count {
            if bytes[index] != UInt8(ascii: "<") {
                let start = index
                while index < bytes.count && bytes[index] != UInt8(ascii: "<") { index += 1 }
                return .text(XMLScanner.decodeEntities(bytes[start..<index]))
            }
            if starts(with: "<!--") {
                try skip(past: "-->")
                continue
            }
            if starts(with: "<![CDATA[") {
                let start = index + 9
                try skip(past: "]]>")
                return .text(String(decoding: bytes[start..<(index - 3)], as: UTF8.self))
            }
            if starts(with: "<?") {
                try skip(past: "?>")
                continue
            }
            if starts(with: "<!") {
                try skip(past: ">")
                continue
            }
            return try tag()
        }
        return nil
    }

    private func starts(with prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        let pointer = prefix.utf8Start
        for offset in 0..<count where bytes[index + offset] != pointer[offset] { return false }
        return true
    }

    private mutating func skip(past terminator: StaticString) throws {
        while index < bytes.count {
            if starts(with: terminator) {
                index += terminator.utf8CodeUnitCount
                return
            }
            index += 1
        }
        throw ReportError("unterminated XML markup")
    }

    private mutating func tag() throws -> Token {
        index += 1
        let isEnd = index < bytes.count && bytes[index] == UInt8(ascii: "/")
        if isEnd { index += 1 }
        let name = readName()
        guard !name.isEmpty else { throw ReportError("malformed XML tag") }
        var attributes: [String: String] = [:]
        while index < bytes.count {
            skipSpace()
            guard index < bytes.count else { break }
            let byte = bytes[index]
            if byte == UInt8(ascii: ">") {
                index += 1
                return isEnd ? .end(name: name) : .start(name: name, attributes: attributes, selfClosing: false)
            }
            if byte == UInt8(ascii: "/") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: ">") {
                index += 2
                return .start(name: name, attributes: attributes, selfClosing: true)
            }
            let key = readName()
            guard !key.isEmpty else { throw ReportError("malformed XML attribute in <\(name)>") }
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else {
                throw ReportError("attribute \(key) of <\(name)> has no value")
            }
            index += 1
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'") else {
                throw ReportError("attribute \(key) of <\(name)> is not quoted")
            }
            let quote = bytes[index]
            index += 1
            let start = index
            while index < bytes.count && bytes[index] != quote { index += 1 }
            guard index < bytes.count else { throw ReportError("unterminated attribute \(key) of <\(name)>") }
            attributes[key] = XMLScanner.decodeEntities(bytes[start..<index])
            index += 1
        }
        throw ReportError("unterminated XML tag <\(name)>")
    }

    private mutating func readName() -> String {
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
                || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "/")
                || byte == UInt8(ascii: "=")
            {
                break
            }
            index += 1
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func skipSpace() {
        while index < bytes.count,
            bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t")
                || bytes[index] == UInt8(ascii: "\n")
                || bytes[index] == UInt8(ascii: "\r")
        {
            index += 1
        }
    }

    /// Replaces `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` and numeric references.
    static func decodeEntities(_ slice: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        guard slice.contains(UInt8(ascii: "&")) else { return String(decoding: slice, as: UTF8.self) }
        var text = String(decoding: slice, as: UTF8.self)
        var out = ""
        out.reserveCapacity(text.utf8.count)
        while let amp = text.firstIndex(of: "&") {
            out += text[..<amp]
            guard let semicolon = text[amp...].firstIndex(of: ";"), text.distance(from: amp, to: semicolon) <= 10 else {
                out += "&"
                text = String(text[text.index(after: amp)...])
                continue
            }
            let entity = text[text.index(after: amp)..<semicolon]
            switch entity {
            case "lt": out += "<"
            case "gt": out += ">"
            case "amp": out += "&"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                var scalar: Unicode.Scalar?
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    scalar = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
                } else if entity.hasPrefix("#") {
                    scalar = UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init)
                }
                if let scalar { out.unicodeScalars.append(scalar) } else { out += "&" + entity + ";" }
            }
            text = String(text[text.index(after: semicolon)...])
        }
        return out + text
    }
}

/// Why a test or coverage report could not be read.
public struct ReportError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
