import Foundation
import SluiceCore
import Subprocess

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// The real git, run as a process. Every call names the repository (or worktree) it works in.
public struct Git: Sendable {
    /// What a git command printed and how it exited.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var succeeded: Bool { status == 0 }
    }

    /// The repository's top directory.
    public let repository: String

    public init(repository: String) {
        self.repository = repository
    }

    /// The identity Sluice commits as, and settings that keep git's output stable and non-interactive.
    static let environment: [Environment.Key: String?] = [
        "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_AUTHOR_NAME": "Sluice", "GIT_AUTHOR_EMAIL": "sluice@localhost",
        "GIT_COMMITTER_NAME": "Sluice", "GIT_COMMITTER_EMAIL": "sluice@localhost", "GIT_CONFIG_NOSYSTEM": "1",
    ]

    /// Runs `git arguments` in `directory` (the repository by default).
    public func run(
        _ arguments: [String], in directory: String? = nil, input: [UInt8]? = nil,
        environment extra: [String: String] = [:]
    ) async throws -> Output {
        let workingDirectory = FilePath(directory ?? repository)
        var variables = Git.environment
        for (key, value) in extra { variables[Environment.Key(stringLiteral: key)] = value }
        let environment = Environment.inherit.updating(variables)
        do {
            let result: ExecutionResult<Void, StringOutput<UTF8>, StringOutput<UTF8>>
            if let input {
                result = try await Subprocess.run(
                    .name("git"), arguments: Arguments(arguments), environment: environment,
                    workingDirectory: workingDirectory, input: .array(input), output: .string(limit: 256 << 20),
                    error: .string(limit: 1 << 20))
            } else {
                result = try await Subprocess.run(
                    .name("git"), arguments: Arguments(arguments), environment: environment,
                    workingDirectory: workingDirectory, output: .string(limit: 256 << 20),
                    error: .string(limit: 1 << 20))
            }
            let status: Int32
            switch result.terminationStatus {
            case .exited(let code): status = code
            case .signaled(let signal): status = 128 + signal
            }
            return Output(status: status, stdout: result.standardOutput, stderr: result.standardError)
        } catch {
            throw SluiceError(code: .storage, message: "cannot run git \(arguments.first ?? ""): \(error)")
        }
    }

    /// Runs git and returns its trimmed output; a non-zero exit is an error carrying git's message.
    @discardableResult
    public func checked(
        _ arguments: [String], in directory: String? = nil, input: [UInt8]? = nil, environment: [String: String] = [:]
    ) async throws -> String {
        let output = try await run(arguments, in: directory, input: input, environment: environment)
        guard output.succeeded else {
            let message = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw SluiceError(
                code: .blocked,
                message:
                    "git \(arguments.prefix(2).joined(separator: " ")) failed: \(message.isEmpty ? "exit \(output.status)" : message)"
            )
        }
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: - Queries

    /// Runs `body` with an index of its own holding `commit`'s tree, passed as the environment to give
    /// each git command, so that neither the repository's index nor any working tree is touched.
    public func withTemporaryIndex<T>(
        at commit: String, _ body: (_ environment: [String: String]) async throws -> T
    ) async throws -> T {
        let index = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-index-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: index) }
        let environment = ["GIT_INDEX_FILE": index]
        try await checked(["read-tree", commit], environment: environment)
        return try await body(environment)
    }

    /// The commit a ref points at, or nil when it does not exist.
    public func commit(of ref: String) async throws -> String? {
        let output = try await run(["rev-parse", "--verify", "--quiet", ref + "^{commit}"])
        return output.succeeded ? output.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    /// The tree of a commit.
    public func tree(of commit: String) async throws -> String {
        try await checked(["rev-parse", commit + "^{tree}"])
    }

    /// The branch checked out in the repository's main working tree, nil when HEAD is detached.
    public func checkedOutBranch(in directory: String? = nil) async throws -> String? {
        let output = try await run(["symbolic-ref", "--quiet", "--short", "HEAD"], in: directory)
        return output.succeeded ? output.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    /// A file's content at a commit, or nil when the file is not there.
    public func file(_ path: String, at commit: String) async throws -> String? {
        let output = try await run(["show", "\(commit):\(path)"])
        return output.succeeded ? output.stdout : nil
    }

    /// The symbolic links in a commit's tree: path → target.
    public func symlinks(at commit: String) async throws -> [String: String] {
        let listing = try await checked(["ls-tree", "-r", "-z", commit])
        var links: [String: String] = [:]
        for entry in listing.split(separator: "\0") {
            // "<mode> <type> <object>\t<path>"
            guard entry.hasPrefix("120000 "), let tab = entry.firstIndex(of: "\t") else { continue }
            let object = entry.split(separator: " ")[2].prefix { $0 != "\t" }
            let path = String(entry[entry.index(after: tab)...])
            links[path] = try await checked(["cat-file", "blob", String(object)])
        }
        return links
    }

    /// Whether `ancestor` is an ancestor of (or equal to) `commit`.
    public func isAncestor(_ ancestor: String, of commit: String) async throws -> Bool {
        try await run(["merge-base", "--is-ancestor", ancestor, commit]).succeeded
    }

    /// Tracked changes in a working tree (`git status --porcelain`, untracked files excluded).
    public func uncommittedChanges(in directory: String) async throws -> [String] {
        try await checked(["status", "--porcelain", "--untracked-files=no"], in: directory)
            .split(separator: "\n").map(String.init)
    }
}
