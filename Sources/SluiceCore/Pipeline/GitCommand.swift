import Foundation

/// One git command, as a value: what to run, where, with what on its standard input and in its
/// environment. The landing machine asks for these; whoever performs them (real git, a script)
/// answers with a ``GitOutput``.
public struct GitCommand: Hashable, Sendable, CustomStringConvertible {
    /// The arguments after `git`.
    public var arguments: [String]
    /// The folder it runs in; nil for the repository's top directory.
    public var directory: String?
    /// Its standard input, byte for byte; nil for none.
    public var input: [UInt8]?
    /// Variables set for it on top of the environment git always gets.
    public var environment: [String: String]

    public init(
        _ arguments: [String], in directory: String? = nil, input: [UInt8]? = nil, environment: [String: String] = [:]
    ) {
        self.arguments = arguments
        self.directory = directory
        self.input = input
        self.environment = environment
    }

    /// `git arg arg …`, for messages.
    public var description: String { (["git"] + arguments).joined(separator: " ") }

    /// The error a command that had to succeed reports when it did not: `git WORD WORD failed: MESSAGE`
    /// (`exit STATUS` when git said nothing).
    public func failure(_ output: GitOutput) -> SluiceError {
        let message = output.message
        return SluiceError(
            code: .blocked,
            message:
                "git \(arguments.prefix(2).joined(separator: " ")) failed: \(message.isEmpty ? "exit \(output.status)" : message)"
        )
    }
}

/// What a git command printed and how it exited. Standard output stays bytes: diffs and paths
/// pass through it, and decoding or trimming them would change what git said.
public struct GitOutput: Hashable, Sendable {
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: String
    public var succeeded: Bool { status == 0 }

    public init(status: Int32, stdout: [UInt8] = [], stderr: String = "") {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    /// A command that exited 0 and printed `line` and a newline.
    public static func success(_ line: String = "") -> GitOutput {
        GitOutput(status: 0, stdout: line.isEmpty ? [] : Array((line + "\n").utf8))
    }

    /// A command that exited `status` and said `stderr`.
    public static func failure(_ status: Int32 = 1, _ stderr: String = "") -> GitOutput {
        GitOutput(status: status, stderr: stderr)
    }

    /// Standard output as one line of text (an object id, a ref): decoded, surrounding whitespace trimmed.
    public var line: String {
        String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// git's error message, its lines joined with "; ".
    public var message: String {
        stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: "; ")
    }
}

extension GitReadings {
    /// The branch checked out in a working tree (nil when HEAD is detached) and its tracked changes,
    /// from `git status --porcelain=v2 --branch --untracked-files=no -z`.
    public static func checkout(_ status: [UInt8]) -> (branch: String?, changes: [String]) {
        var branch: String?
        var changes: [String] = []
        for record in status.split(separator: 0) {
            let line = String(decoding: record, as: UTF8.self)
            if line.hasPrefix("# branch.head ") {
                let name = String(line.dropFirst("# branch.head ".count))
                branch = name == "(detached)" ? nil : name
            } else if !line.hasPrefix("#"), let kind = line.first, "12u".contains(kind) {
                changes.append(line)
            }
        }
        return (branch, changes)
    }
}
