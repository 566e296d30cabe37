import Foundation
import Synchronization

/// Where commands write. The executable writes through to the process's streams; in-process
/// tests capture into buffers.
public final class Console: Sendable {
    private struct Buffers {
        var out = ""
        var err = ""
    }

    private let buffers = Mutex(Buffers())
    private let passthrough: Bool
    /// Text given to commands that read standard input (`-`), for in-process tests.
    let input: String?

    /// A console that writes to the process's standard output and error.
    public static let standard = Console(passthrough: true, input: nil)

    /// A console that captures what commands write; `input` stands in for standard input.
    public static func capturing(input: String? = nil) -> Console {
        Console(passthrough: false, input: input)
    }

    private init(passthrough: Bool, input: String?) {
        self.passthrough = passthrough
        self.input = input
    }

    /// The console commands write to in the current task.
    @TaskLocal public static var current: Console = .standard

    /// Everything written to standard output so far (capturing consoles only).
    public var standardOutput: String { buffers.withLock { $0.out } }
    /// Everything written to standard error so far (capturing consoles only).
    public var standardError: String { buffers.withLock { $0.err } }

    /// Writes one line to standard output.
    /// `text` on one line, its control characters written as escapes (`\n`, `\u{1B}`).
    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.properties.generalCategory == .control:
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Writes to a standard stream; a reader that went away (`sluice run | head -1`) is not the
    /// command's failure: what it does goes on, unprinted.
    static func write(_ data: Data, to handle: FileHandle) {
        try? handle.write(contentsOf: data)
    }

    func line(_ text: String) {
        if passthrough {
            Console.write(Data((text + "\n").utf8), to: .standardOutput)
        } else {
            buffers.withLock { $0.out += text + "\n" }
        }
    }

    /// Writes bytes to standard output exactly as they are.
    func raw(_ bytes: [UInt8]) {
        if passthrough {
            Console.write(Data(bytes), to: .standardOutput)
        } else {
            buffers.withLock { $0.out += String(decoding: bytes, as: UTF8.self) }
        }
    }

    /// Writes one line to standard error.
    func errorLine(_ text: String) {
        if passthrough {
            Console.write(Data((text + "\n").utf8), to: .standardError)
        } else {
            buffers.withLock { $0.err += text + "\n" }
        }
    }

    /// Reads all of standard input.
    func readStandardInput() -> Data {
        if let input { return Data(input.utf8) }
        return FileHandle.standardInput.readDataToEndOfFile()
    }

    /// Reads standard input up to `limit` bytes and one more, so that the caller can tell it was
    /// longer without holding the rest.
    func readStandardInput(limit: Int) throws -> Data {
        if let input { return Data(input.utf8.prefix(limit + 1)) }
        return try Console.read(FileHandle.standardInput, limit: limit)
    }

    /// Reads at most `limit + 1` bytes from `handle`, in chunks of at most 1 MiB.
    static func read(_ handle: FileHandle, limit: Int) throws -> Data {
        var data = Data()
        while data.count <= limit {
            guard let chunk = try handle.read(upToCount: min(1 << 20, limit + 1 - data.count)), !chunk.isEmpty else {
                break
            }
            data.append(chunk)
        }
        return data
    }
}
