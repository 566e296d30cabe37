/// A parsed unified diff: git's format (new, deleted, renamed, copied and mode-changed files,
/// binary markers, "\ No newline at end of file") or plain `diff -u` output.
public struct UnifiedDiff: Hashable, Sendable {
    /// The files the diff touches, in order.
    public var files: [FileDiff]

    public init(files: [FileDiff]) {
        self.files = files
    }

    /// Lines added plus lines removed, over every file.
    public var changedLines: Int { files.reduce(0) { $0 + $1.addedLines + $1.removedLines } }
}

/// One file's part of a diff.
public struct FileDiff: Hashable, Sendable {
    /// What happens to the file.
    public enum Change: String, Hashable, Sendable {
        case modified, added, deleted, renamed, copied
    }

    /// The path before the change, without git's `a/` prefix; nil for a new file.
    public var oldPath: String?
    /// The path after the change, without git's `b/` prefix; nil for a deleted file.
    public var newPath: String?
    public var change: Change
    public var oldMode: String?
    public var newMode: String?
    /// Whether the diff marks the file as binary (its content is not in hunks).
    public var isBinary: Bool
    public var hunks: [Hunk]
    /// For a file whose new mode is a symbolic link (120000), the link's target from the diff.
    public var symlinkTarget: String?

    public init(
        oldPath: String?, newPath: String?, change: Change, oldMode: String? = nil, newMode: String? = nil,
        isBinary: Bool = false, hunks: [Hunk] = []
    ) {
        self.oldPath = oldPath
        self.newPath = newPath
        self.change = change
        self.oldMode = oldMode
        self.newMode = newMode
        self.isBinary = isBinary
        self.hunks = hunks
    }

    /// Every path the file's change touches (both sides of a rename).
    public var paths: [String] {
        var paths: [String] = []
        if let oldPath { paths.append(oldPath) }
        if let newPath, newPath != oldPath { paths.append(newPath) }
        return paths
    }

    /// The path after the change, or before it for a deletion.
    public var path: String { newPath ?? oldPath ?? "" }

    public var addedLines: Int { hunks.reduce(0) { $0 + $1.addedLines } }
    public var removedLines: Int { hunks.reduce(0) { $0 + $1.removedLines } }
}

/// One `@@ -a,b +c,d @@` hunk.
public struct Hunk: Hashable, Sendable {
    public var oldStart: Int
    public var oldCount: Int
    public var newStart: Int
    public var newCount: Int
    public var addedLines: Int
    public var removedLines: Int

    public init(oldStart: Int, oldCount: Int, newStart: Int, newCount: Int, addedLines: Int, removedLines: Int) {
        self.oldStart = oldStart
        self.oldCount = oldCount
        self.newStart = newStart
        self.newCount = newCount
        self.addedLines = addedLines
        self.removedLines = removedLines
    }
}

/// Why a diff could not be parsed: what, and on which line.
public struct DiffError: Error, Hashable, Sendable, CustomStringConvertible {
    /// 1-based line number in the diff text.
    public let line: Int
    public let message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}
