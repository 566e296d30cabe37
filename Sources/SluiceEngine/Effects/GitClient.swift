import Foundation
import SluiceCore

/// What Sluice needs of git: one command run in the repository or a worktree of it, answered with
/// what it printed and how it exited. ``Git`` runs the real one; a test can answer from a script.
/// Everything else (checked commands, queries) is built on ``run(_:)`` here.
public protocol GitClient: Sendable {
    /// The repository's top directory: where a command with no folder of its own runs.
    var repository: String { get }

    /// Runs one git command and waits for it to end.
    ///
    /// - Throws: when git cannot be run at all; a non-zero exit is an output, not an error.
    func run(_ command: GitCommand) async throws -> GitOutput
}

extension GitClient {
    /// Runs `git arguments` in `directory` (the repository by default).
    public func run(
        _ arguments: [String], in directory: String? = nil, input: [UInt8]? = nil,
        environment: [String: String] = [:]
    ) async throws -> GitOutput {
        try await run(GitCommand(arguments, in: directory, input: input, environment: environment))
    }

    /// Runs git and returns its output as one trimmed line (an object id, a ref name); a non-zero exit
    /// is an error carrying git's message. Output that may hold paths or diffs: ``checkedBytes(_:in:input:environment:)``.
    @discardableResult
    public func checked(
        _ arguments: [String], in directory: String? = nil, input: [UInt8]? = nil, environment: [String: String] = [:]
    ) async throws -> String {
        try await checkedOutput(arguments, in: directory, input: input, environment: environment).line
    }

    /// Runs git and returns its output byte for byte; a non-zero exit is an error carrying git's message.
    public func checkedBytes(
        _ arguments: [String], in directory: String? = nil, input: [UInt8]? = nil, environment: [String: String] = [:]
    ) async throws -> [UInt8] {
        try await checkedOutput(arguments, in: directory, input: input, environment: environment).stdout
    }

    private func checkedOutput(
        _ arguments: [String], in directory: String?, input: [UInt8]?, environment: [String: String]
    ) async throws -> GitOutput {
        let command = GitCommand(arguments, in: directory, input: input, environment: environment)
        let output = try await run(command)
        guard output.succeeded else { throw command.failure(output) }
        return output
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
        return output.succeeded ? output.line : nil
    }

    /// The tree of a commit.
    public func tree(of commit: String) async throws -> String {
        try await checked(["rev-parse", commit + "^{tree}"])
    }

    /// The branch checked out in the repository's main working tree, nil when HEAD is detached.
    public func checkedOutBranch(in directory: String? = nil) async throws -> String? {
        let output = try await run(["symbolic-ref", "--quiet", "--short", "HEAD"], in: directory)
        return output.succeeded ? output.line : nil
    }

    /// A file's content at a commit, byte for byte, or nil when the file is not there.
    public func file(_ path: String, at commit: String) async throws -> [UInt8]? {
        let output = try await run(["show", "\(commit):\(path)"])
        return output.succeeded ? output.stdout : nil
    }

    /// The symbolic links in a tree (or a commit's): path → target, the target byte for byte as git stores it.
    public func symlinks(at treeish: String) async throws -> [String: String] {
        let entries = try GitReadings.treeEntries(
            try await checkedBytes(["ls-tree", "-r", "-z", "--full-tree", treeish])
        )
        .filter { $0.mode == GitReadings.symlinkMode }
        let contents = try await blobs(entries.map(\.object))
        var links: [String: String] = [:]
        for (entry, content) in zip(entries, contents) { links[entry.path] = String(decoding: content, as: UTF8.self) }
        return links
    }

    /// The contents of blobs, in order, read with one `git cat-file --batch`.
    public func blobs(_ objects: [String]) async throws -> [[UInt8]] {
        guard !objects.isEmpty else { return [] }
        let output = try await checkedBytes(
            ["cat-file", "--batch"], input: Array((objects.joined(separator: "\n") + "\n").utf8))
        var contents: [[UInt8]] = []
        var position = 0
        while contents.count < objects.count {
            // "<object> <type> <size>\n<content>\n"
            guard let newline = output[position...].firstIndex(of: 0x0A) else { break }
            let header = String(decoding: output[position..<newline], as: UTF8.self).split(separator: " ")
            guard header.count == 3, let size = Int(header[2]), newline + 1 + size <= output.count else {
                throw SluiceError(
                    code: .storage, message: "git cat-file: unexpected output for \(objects[contents.count])")
            }
            contents.append(Array(output[(newline + 1)..<(newline + 1 + size)]))
            position = newline + 1 + size + 1
        }
        guard contents.count == objects.count else {
            throw SluiceError(
                code: .storage, message: "git cat-file returned \(contents.count) of \(objects.count) objects")
        }
        return contents
    }

    /// Whether `ancestor` is an ancestor of (or equal to) `commit`.
    public func isAncestor(_ ancestor: String, of commit: String) async throws -> Bool {
        try await run(["merge-base", "--is-ancestor", ancestor, commit]).succeeded
    }

    /// Tracked changes in a working tree (`git status --porcelain`, untracked files excluded).
    public func uncommittedChanges(in directory: String) async throws -> [String] {
        try await checkout(in: directory).changes
    }

    /// The branch checked out in a working tree (nil when HEAD is detached) and its tracked changes,
    /// read with one `git status`.
    public func checkout(in directory: String) async throws -> (branch: String?, changes: [String]) {
        let output = try await checkedBytes(
            ["status", "--porcelain=v2", "--branch", "--untracked-files=no", "-z"], in: directory)
        return GitReadings.checkout(output)
    }
}
