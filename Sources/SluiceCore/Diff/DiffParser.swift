/// Parses unified diffs from their bytes. It reads bytes, not Strings, because diffs can be large;
/// only paths become Strings.
public enum DiffParser {
    /// Parses `bytes` as a unified diff.
    ///
    /// - Throws: ``DiffError`` naming the line for a malformed hunk header, hunk line counts that
    ///   disagree with the header, a file header without its other half, or a diff with no file.
    public static func parse(_ bytes: [UInt8]) throws -> UnifiedDiff {
        try bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(buffer)
            return try parser.run()
        }
    }

    /// Parses diff text.
    public static func parse(_ text: String) throws -> UnifiedDiff { try parse(Array(text.utf8)) }
}

private struct Parser {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    var lineNumber = 0
    var files: [FileDiff] = []
    var current: FileDiff?

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// The next line without its newline, or nil at the end.
    mutating func nextLine() -> Slice<UnsafeBufferPointer<UInt8>>? {
        guard position < bytes.count else { return nil }
        let start = position
        var end = start
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        position = end < bytes.count ? end + 1 : end
        lineNumber += 1
        var lineEnd = end
        if lineEnd > start && bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
        return bytes[start..<lineEnd]
    }

    /// Looks at the next line without consuming it.
    func peekLine() -> Slice<UnsafeBufferPointer<UInt8>>? {
        var copy = self
        return copy.nextLine()
    }

    mutating func finishFile() {
        if let file = current { files.append(file) }
        current = nil
    }

    mutating func run() throws -> UnifiedDiff {
        while let line = nextLine() {
            if line.starts(with: Self.diffGit) {
                finishFile()
                current = try gitHeader(line)
            } else if line.starts(with: Self.minusMinus), let next = peekLine(), next.starts(with: Self.plusPlus) {
                let old = try headerPath(line.dropFirst(4))
                _ = nextLine()
                let new = try headerPath(next.dropFirst(4))
                try startPlainOrAttach(old: old, new: new)
            } else if line.starts(with: Self.atAt) {
                guard current != nil else {
                    throw DiffError(line: lineNumber, message: "a hunk before any file header")
                }
                try hunk(line)
            } else if current != nil {
                extendedHeader(line)
            }
            // Anything else outside a file (a commit message, `Only in` lines) is not part of the diff.
        }
        finishFile()
        guard !files.isEmpty else { throw DiffError(line: max(1, lineNumber), message: "no file changes in the diff") }
        return UnifiedDiff(files: files)
    }

    /// `diff --git a/x b/y`: the paths, which the `---`/`+++` lines or rename headers may refine.
    mutating func gitHeader(_ line: Slice<UnsafeBufferPointer<UInt8>>) throws -> FileDiff {
        let rest = Array(line.dropFirst(Self.diffGit.count))
        var paths: [String] = []
        var index = 0
        while index < rest.count && paths.count < 2 {
            while index < rest.count && rest[index] == 0x20 { index += 1 }
            guard index < rest.count else { break }
            if rest[index] == 0x22 {
                let (text, next) = try quoted(rest, from: index)
                paths.append(text)
                index = next
            } else if paths.isEmpty, let split = Self.splitUnquotedPair(rest[index...]) {
                paths = split
                break
            } else {
                let start = index
                while index < rest.count && rest[index] != 0x20 { index += 1 }
                paths.append(String(decoding: rest[start..<index], as: UTF8.self))
            }
        }
        guard paths.count == 2 else { throw DiffError(line: lineNumber, message: "malformed diff --git header") }
        return FileDiff(oldPath: Self.strip(paths[0]), newPath: Self.strip(paths[1]), change: .modified)
    }

    /// `a/x b/x` with spaces inside the names: git writes the same name twice, so split in the middle.
    static func splitUnquotedPair(_ bytes: ArraySlice<UInt8>) -> [String]? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("a/") else { return nil }
        let middle = text.index(text.startIndex, offsetBy: text.count / 2)
        let left = String(text[..<middle])
        let right = String(text[text.index(after: middle)...])
        if text[middle] == " " && left.dropFirst(2) == right.dropFirst(2) && right.hasPrefix("b/") {
            return [left, right]
        }
        return nil
    }

    /// A path after `--- ` or `+++ `: quoted or not, a trailing tab and timestamp dropped.
    func headerPath(_ field: Slice<UnsafeBufferPointer<UInt8>>) throws -> String? {
        let bytes = Array(field)
        var text: String
        if bytes.first == 0x22 {
            text = try quoted(bytes, from: 0).0
        } else {
            let end = bytes.firstIndex(of: 0x09) ?? bytes.count
            text = String(decoding: bytes[..<end], as: UTF8.self)
            while text.hasSuffix(" ") { text.removeLast() }
        }
        if text == "/dev/null" { return nil }
        // An absolute path is kept as it is, so that validation refuses it rather than guessing.
        return text.hasPrefix("/") ? text : Self.strip(text)
    }

    mutating func startPlainOrAttach(old: String?, new: String?) throws {
        if var file = current, file.hunks.isEmpty {
            // The ---/+++ pair of a git file section: it says which side is missing.
            file.oldPath = old
            file.newPath = new
            if old == nil { file.change = .added }
            if new == nil { file.change = .deleted }
            current = file
            return
        }
        finishFile()
        guard old != nil || new != nil else {
            throw DiffError(line: lineNumber, message: "both sides of the file header are /dev/null")
        }
        let change: FileDiff.Change = old == nil ? .added : new == nil ? .deleted : .modified
        current = FileDiff(oldPath: old, newPath: new, change: change)
    }

    mutating func extendedHeader(_ line: Slice<UnsafeBufferPointer<UInt8>>) {
        let text = String(decoding: line, as: UTF8.self)
        func value(_ prefix: String) -> String? {
            text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : nil
        }
        if let mode = value("new file mode ") {
            current?.change = .added
            current?.newMode = mode
            current?.oldPath = nil
        } else if let mode = value("deleted file mode ") {
            current?.change = .deleted
            current?.oldMode = mode
            current?.newPath = nil
        } else if let mode = value("old mode ") {
            current?.oldMode = mode
        } else if let mode = value("new mode ") {
            current?.newMode = mode
        } else if let path = value("rename from ") {
            current?.change = .renamed
            current?.oldPath = Self.unquote(path)
        } else if let path = value("rename to ") {
            current?.change = .renamed
            current?.newPath = Self.unquote(path)
        } else if let path = value("copy from ") {
            current?.change = .copied
            current?.oldPath = Self.unquote(path)
        } else if let path = value("copy to ") {
            current?.change = .copied
            current?.newPath = Self.unquote(path)
        } else if text.hasPrefix("Binary files ") || text == "GIT binary patch" {
            current?.isBinary = true
            if text == "GIT binary patch" { skipBinaryPayload() }
        }
    }

    /// The literal/delta blocks of a `GIT binary patch` run until the line after the last empty line.
    mutating func skipBinaryPayload() {
        while let next = peekLine() {
            if next.starts(with: Self.diffGit) { return }
            _ = nextLine()
        }
    }

    /// A hunk: its header, then exactly the lines it announces.
    mutating func hunk(_ header: Slice<UnsafeBufferPointer<UInt8>>) throws {
        let headerLine = lineNumber
        guard let ranges = Self.hunkRanges(Array(header)) else {
            throw DiffError(line: headerLine, message: "malformed hunk header")
        }
        var oldLeft = ranges.oldCount
        var newLeft = ranges.newCount
        var added = 0
        var removed = 0
        while oldLeft > 0 || newLeft > 0 {
            guard let line = nextLine() else {
                throw DiffError(
                    line: lineNumber,
                    message: "hunk at line \(headerLine) of \(current?.path ?? "?") ends early: "
                        + "\(oldLeft) old and \(newLeft) new lines missing")
            }
            switch line.first {
            case 0x20, nil:
                oldLeft -= 1
                newLeft -= 1
            case 0x2D:
                oldLeft -= 1
                removed += 1
            case 0x2B:
                newLeft -= 1
                added += 1
                if current?.newMode == "120000" {
                    // A link's target is the blob's whole content, over as many lines as it takes.
                    let part = String(decoding: line.dropFirst(), as: UTF8.self)
                    let earlier = current?.symlinkTarget
                    current?.symlinkTarget = earlier.map { $0 + "\n" + part } ?? part
                }
            case 0x5C:
                continue
            default:
                throw DiffError(
                    line: lineNumber,
                    message: "hunk at line \(headerLine) of \(current?.path ?? "?") has fewer lines than its header "
                        + "says (\(oldLeft) old and \(newLeft) new missing)")
            }
            if oldLeft < 0 || newLeft < 0 {
                throw DiffError(
                    line: lineNumber,
                    message: "hunk at line \(headerLine) of \(current?.path ?? "?") has more lines than its header says"
                )
            }
        }
        if let next = peekLine(), next.first == 0x5C { _ = nextLine() }
        if let next = peekLine(), let first = next.first, first == 0x2B || first == 0x2D || first == 0x20,
            !Self.isSignature(next),
            !next.starts(with: Self.minusMinus) || !(peekSecond()?.starts(with: Self.plusPlus) ?? false)
        {
            throw DiffError(
                line: lineNumber + 1,
                message: "hunk at line \(headerLine) of \(current?.path ?? "?") has more lines than its header says")
        }
        current?.hunks.append(
            Hunk(
                oldStart: ranges.oldStart, oldCount: ranges.oldCount, newStart: ranges.newStart,
                newCount: ranges.newCount, addedLines: added, removedLines: removed))
    }

    /// `-- ` alone: the signature separator `git format-patch` writes after the last hunk.
    static func isSignature(_ line: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        line.elementsEqual([0x2D, 0x2D, 0x20]) || line.elementsEqual([0x2D, 0x2D])
    }

    func peekSecond() -> Slice<UnsafeBufferPointer<UInt8>>? {
        var copy = self
        _ = copy.nextLine()
        return copy.nextLine()
    }

    /// `@@ -a[,b] +c[,d] @@…`
    static func hunkRanges(_ line: [UInt8]) -> (oldStart: Int, oldCount: Int, newStart: Int, newCount: Int)? {
        var index = 3
        func number() -> Int? {
            var value = 0
            var digits = 0
            while index < line.count, line[index] >= 0x30, line[index] <= 0x39 {
                value = value * 10 + Int(line[index] - 0x30)
                index += 1
                digits += 1
                if digits > 12 { return nil }
            }
            return digits > 0 ? value : nil
        }
        func range() -> (Int, Int)? {
            guard let start = number() else { return nil }
            if index < line.count && line[index] == 0x2C {
                index += 1
                guard let count = number() else { return nil }
                return (start, count)
            }
            return (start, 1)
        }
        guard line.count > 3, line[index] == 0x2D else { return nil }
        index += 1
        guard let old = range(), index < line.count, line[index] == 0x20 else { return nil }
        index += 1
        guard index < line.count, line[index] == 0x2B else { return nil }
        index += 1
        guard let new = range(), index + 2 < line.count + 1, line[index...].starts(with: [0x20, 0x40, 0x40]) else {
            return nil
        }
        return (old.0, old.1, new.0, new.1)
    }

    /// A C-quoted path as git writes it ("a/tab\there"), from the opening quote; returns the text and
    /// the index after the closing quote.
    func quoted(_ bytes: [UInt8], from start: Int) throws -> (String, Int) {
        var out: [UInt8] = []
        var index = start + 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x22 { return (String(decoding: out, as: UTF8.self), index + 1) }
            if byte == 0x5C, index + 1 < bytes.count {
                index += 1
                let escaped = bytes[index]
                switch escaped {
                case 0x6E: out.append(0x0A)
                case 0x74: out.append(0x09)
                case 0x72: out.append(0x0D)
                case 0x22, 0x5C: out.append(escaped)
                case 0x30...0x37:
                    var value = 0
                    var digits = 0
                    while digits < 3, index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x37 {
                        value = value * 8 + Int(bytes[index] - 0x30)
                        index += 1
                        digits += 1
                    }
                    out.append(UInt8(truncatingIfNeeded: value))
                    continue
                default: out.append(escaped)
                }
                index += 1
                continue
            }
            out.append(byte)
            index += 1
        }
        throw DiffError(line: lineNumber, message: "unterminated quoted path")
    }

    static func unquote(_ text: String) -> String {
        guard text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 else { return text }
        var parser = Parser(UnsafeBufferPointer(start: nil, count: 0))
        parser.lineNumber = 0
        return (try? parser.quoted(Array(text.utf8), from: 0).0) ?? text
    }

    /// Drops git's `a/` or `b/` prefix (and, for plain diffs, the first path component, as `git apply -p1` does).
    static func strip(_ path: String) -> String {
        guard let slash = path.firstIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    static let diffGit = Array("diff --git ".utf8)
    static let minusMinus = Array("--- ".utf8)
    static let plusPlus = Array("+++ ".utf8)
    static let atAt = Array("@@ ".utf8)
}
