import Foundation

/// A fresh git repository in a temporary directory, on branch `main`, with an initial commit.
public final class TemporaryGitRepository: Sendable {
    public let directory: TemporaryDirectory
    public var path: String { directory.path }

    /// Creates the repository with `files` (path → content) in its first commit.
    public init(files: [String: String]) throws {
        self.directory = TemporaryDirectory(prefix: "sluice-repo")
        try git("init", "--quiet", "--initial-branch=main")
        try git("config", "user.name", "Test")
        try git("config", "user.email", "test@localhost")
        try git("config", "commit.gpgsign", "false")
        try commit(files, message: "initial")
    }

    /// Writes `files` and commits them on the checked-out branch.
    public func commit(_ files: [String: String], message: String) throws {
        for (path, content) in files { try write(path, content) }
        try git("add", "-A")
        try git("commit", "--quiet", "-m", message)
    }

    /// Writes a file in the working tree (creating folders).
    public func write(_ path: String, _ content: String) throws {
        let url = URL(fileURLWithPath: self.path).appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try content.write(to: url, atomically: true, encoding: .utf8)
    }

    /// Reads a file of the working tree.
    public func read(_ path: String) throws -> String {
        try String(contentsOfFile: (self.path as NSString).appendingPathComponent(path), encoding: .utf8)
    }

    /// Runs git in the repository and returns its trimmed output; throws on a non-zero exit.
    @discardableResult
    public func git(_ arguments: String..., input: String? = nil) throws -> String {
        try git(arguments, input: input)
    }

    @discardableResult
    public func git(_ arguments: [String], input: String? = nil) throws -> String {
        try gitOutput(arguments, input: input).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs git in the repository and returns its output as it is; throws on a non-zero exit.
    public func gitOutput(_ arguments: [String], input: String? = nil) throws -> String {
        var environment = ProcessInfo.processInfo.environment
        environment["GIT_CONFIG_NOSYSTEM"] = "1"
        environment["LC_ALL"] = "C"
        let result = try CommandLineProcess.runProgramBlocking(
            "/usr/bin/env", ["git"] + arguments, input: input, environment: environment, directory: path)
        guard result.status == 0 else { throw GitFailure(arguments: arguments, message: result.stderr) }
        return result.stdout
    }

    /// A diff made by real git: the changes `edit` makes to the working tree, then undone.
    public func diff(_ edit: (TemporaryGitRepository) throws -> Void) throws -> String {
        try edit(self)
        try git("add", "-A")
        let diff = try gitOutput(["diff", "--cached", "--binary"])
        try git("reset", "--quiet", "--hard", "HEAD")
        try git("clean", "-fdq", "--exclude=.sluice")
        return diff
    }
}

/// A git command in a test fixture failed.
public struct GitFailure: Error, CustomStringConvertible {
    public let arguments: [String]
    public let message: String
    public var description: String { "git \(arguments.joined(separator: " ")) failed: \(message)" }
}
