/// What git itself says a patch changes. Sluice judges a patch on these readings, never on its own
/// parse alone: where its parser and git disagree, the patch is refused (`diff_ambiguous`).
public enum GitReadings {
    /// One file of `git apply --numstat -z`: lines added and removed (nil for a binary file) and
    /// the path git will write (the old path for a deletion).
    public struct Numstat: Hashable, Sendable {
        public var added: Int?
        public var removed: Int?
        public var path: String

        public init(added: Int?, removed: Int?, path: String) {
            self.added = added
            self.removed = removed
            self.path = path
        }
    }

    /// One entry of `git diff-tree -r -z --no-renames --no-abbrev`: a path whose blob or mode changed.
    public struct RawChange: Hashable, Sendable {
        /// `A`dded, `D`eleted, `M`odified, `T`ype changed.
        public var status: Character
        /// Six octal digits; `000000` when the path did not exist on that side.
        public var oldMode: String
        public var newMode: String
        public var oldObject: String
        public var newObject: String
        public var path: String

        public init(
            status: Character, oldMode: String, newMode: String, oldObject: String, newObject: String, path: String
        ) {
            self.status = status
            self.oldMode = oldMode
            self.newMode = newMode
            self.oldObject = oldObject
            self.newObject = newObject
            self.path = path
        }

        /// Whether the path exists after the change.
        public var exists: Bool { newMode != "000000" }
    }

    /// One entry of `git ls-tree -r -z`.
    public struct TreeEntry: Hashable, Sendable {
        public var mode: String
        public var object: String
        public var path: String

        public init(mode: String, object: String, path: String) {
            self.mode = mode
            self.object = object
            self.path = path
        }
    }

    /// The mode of a symbolic link and of a gitlink (a submodule's commit).
    public static let symlinkMode = "120000"
    public static let gitlinkMode = "160000"

    /// Parses `git apply --numstat -z` output: `added TAB removed TAB path NUL` per file, `-` for binary counts.
    public static func numstat(_ bytes: [UInt8]) throws -> [Numstat] {
        try records(bytes).map { record in
            let fields = record.split(separator: 0x09, maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else {
                throw DiffError(line: 0, message: "unreadable git numstat: \(text(record))")
            }
            return Numstat(added: count(fields[0]), removed: count(fields[1]), path: text(fields[2]))
        }
    }

    /// Parses raw diff output with `-z`: `:oldmode newmode oldobject newobject status NUL path NUL` per path.
    public static func rawChanges(_ bytes: [UInt8]) throws -> [RawChange] {
        var changes: [RawChange] = []
        let parts = records(bytes)
        var index = 0
        while index < parts.count {
            let header = text(parts[index])
            let fields = header.dropFirst().split(separator: " ")
            guard header.hasPrefix(":"), fields.count == 5, index + 1 < parts.count, let status = fields[4].first else {
                throw DiffError(line: 0, message: "unreadable git raw diff: \(header)")
            }
            changes.append(
                RawChange(
                    status: status, oldMode: String(fields[0]), newMode: String(fields[1]),
                    oldObject: String(fields[2]), newObject: String(fields[3]), path: text(parts[index + 1])))
            index += 2
        }
        return changes
    }

    /// Parses `git ls-tree -r -z` output: `mode SP type SP object TAB path NUL` per entry.
    public static func treeEntries(_ bytes: [UInt8]) throws -> [TreeEntry] {
        try records(bytes).map { record in
            guard let tab = record.firstIndex(of: 0x09) else {
                throw DiffError(line: 0, message: "unreadable git tree listing: \(text(record))")
            }
            let fields = record[..<tab].split(separator: 0x20)
            guard fields.count == 3 else { throw DiffError(line: 0, message: "unreadable git tree listing") }
            return TreeEntry(mode: text(fields[0]), object: text(fields[2]), path: text(record[(tab + 1)...]))
        }
    }

    /// The paths a parsed diff says it writes: a rename writes both of its paths, a copy only its new one.
    public static func declaredWrites(of diff: UnifiedDiff) -> Set<String> {
        var paths = Set<String>()
        for file in diff.files {
            if let new = file.newPath { paths.insert(new) }
            if let old = file.oldPath, file.change == .renamed || file.change == .deleted { paths.insert(old) }
        }
        return paths
    }

    /// Where Sluice's parse of a diff and git's reading of it disagree: files, paths, or counts.
    /// Empty when they agree.
    public static func disagreements(_ diff: UnifiedDiff, _ git: [Numstat]) -> [String] {
        guard diff.files.count == git.count else {
            return [
                "Sluice reads \(diff.files.count) files (\(diff.files.map(\.path).joined(separator: ", "))), "
                    + "git reads \(git.count) (\(git.map(\.path).joined(separator: ", ")))"
            ]
        }
        var problems: [String] = []
        for (file, stat) in zip(diff.files, git) {
            if file.path != stat.path {
                problems.append("Sluice reads the path \(quoted(file.path)), git reads \(quoted(stat.path))")
            } else if file.isBinary != (stat.added == nil) {
                problems.append("\(file.path): Sluice and git disagree on whether it is binary")
            } else if let added = stat.added, let removed = stat.removed,
                added != file.addedLines || removed != file.removedLines
            {
                problems.append(
                    "\(file.path): Sluice reads +\(file.addedLines) -\(file.removedLines), git reads +\(added) -\(removed)"
                )
            }
        }
        return problems
    }

    /// The differences between the paths a diff declares and those git really changed in the tree.
    public static func undeclared(_ diff: UnifiedDiff, _ changes: [RawChange]) -> [String] {
        let declared = declaredWrites(of: diff)
        let written = Set(changes.map(\.path))
        var problems: [String] = []
        for path in written.subtracting(declared).sorted() {
            problems.append("git changed \(path), which the diff does not name")
        }
        for path in declared.subtracting(written).sorted() {
            problems.append("the diff names \(path), which git left unchanged")
        }
        return problems
    }

    /// A path as Swift writes a string literal, so that spaces, tabs and newlines show.
    static func quoted(_ path: String) -> String { path.debugDescription }

    // MARK: - Bytes

    static func records(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var parts = bytes.split(separator: 0, omittingEmptySubsequences: false)
        if parts.last?.isEmpty == true { parts.removeLast() }
        return parts
    }

    static func text<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String { String(decoding: bytes, as: UTF8.self) }

    static func count(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), bytes.count <= 12 else { return nil }
        return Int(text(bytes))
    }
}
