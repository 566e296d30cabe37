/// What a patch may touch and how big it may be (`policy:` in `sluice.yml`).
public struct PatchPolicy: Hashable, Sendable {
    public var allow: [Glob]
    public var deny: [Glob]
    public var protected: [Glob]
    public var tests: [Glob]
    public var maxFiles: Int
    public var maxChangedLines: Int
    public var allowBinary: Bool
    public var maxApplyAttempts: Int
    /// The largest diff taken, in bytes; a larger one is refused while it is read, before anything is stored.
    public var maxPatchBytes: Int

    public init(
        allow: [Glob] = [Glob("**")], deny: [Glob] = [], protected: [Glob] = [Glob("sluice.yml"), Glob(".ci/**")],
        tests: [Glob] = [Glob("tests/**"), Glob("test/**"), Glob("Tests/**")], maxFiles: Int = 100,
        maxChangedLines: Int = 5000, allowBinary: Bool = false, maxApplyAttempts: Int = 3,
        maxPatchBytes: Int = PatchPolicy.defaultMaxPatchBytes
    ) {
        self.allow = allow
        self.deny = deny
        self.protected = protected
        self.tests = tests
        self.maxFiles = maxFiles
        self.maxChangedLines = maxChangedLines
        self.allowBinary = allowBinary
        self.maxApplyAttempts = maxApplyAttempts
        self.maxPatchBytes = maxPatchBytes
    }

    /// 10 MiB.
    public static let defaultMaxPatchBytes = 10 << 20
}

/// One reason a patch is refused: a stable code, the offending path (if any) and a sentence.
public struct ValidationIssue: Hashable, Sendable, CustomStringConvertible {
    /// Which check failed.
    public enum Check: String, Hashable, Sendable {
        case format, scope, constraints
    }

    public let check: Check
    /// Stable: `path_absolute`, `path_traversal`, `path_git_dir`, `path_sluice_dir`, `path_not_allowed`,
    /// `path_denied`, `symlink_outside`, `too_many_files`, `too_many_lines`, `binary_file`,
    /// `protected_path`, `test_deleted`, `diff_malformed`, `apply_check_failed`.
    public let code: String
    public let path: String?
    public let message: String

    public init(_ check: Check, _ code: String, path: String?, _ message: String) {
        self.check = check
        self.code = code
        self.path = path
        self.message = message
    }

    /// `code: path: message`, as recorded in `validation_errors`.
    public var description: String {
        [code, path, message].compactMap { $0 }.joined(separator: ": ")
    }
}

/// Checks a parsed diff against a policy: scope (where) and constraints (how much, what kind).
/// Whether it applies (format) needs git and is checked elsewhere.
public enum PolicyCheck {
    /// Every issue, in the order: scope, then constraints.
    ///
    /// - Parameter symlinks: the symbolic links at the target revision (path → target), so that a
    ///   patch cannot write through a link that leads outside the repository.
    public static func issues(
        of diff: UnifiedDiff, policy: PatchPolicy, symlinks: [String: String] = [:]
    ) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        for file in diff.files {
            for path in file.paths { issues += scopeIssues(path, policy: policy, symlinks: symlinks) }
            if let target = file.symlinkTarget, let path = file.newPath, !staysInside(link: path, target: target) {
                issues.append(
                    ValidationIssue(
                        .scope, "symlink_outside", path: path, "the link points outside the repository (\(target))"))
            }
        }
        if diff.files.count > policy.maxFiles {
            issues.append(
                ValidationIssue(
                    .constraints, "too_many_files", path: nil,
                    "\(diff.files.count) files changed, at most \(policy.maxFiles) allowed"))
        }
        if diff.changedLines > policy.maxChangedLines {
            issues.append(
                ValidationIssue(
                    .constraints, "too_many_lines", path: nil,
                    "\(diff.changedLines) lines changed, at most \(policy.maxChangedLines) allowed"))
        }
        for file in diff.files {
            if file.isBinary && !policy.allowBinary {
                issues.append(
                    ValidationIssue(.constraints, "binary_file", path: file.path, "binary changes are not allowed"))
            }
            for path in file.paths where policy.protected.contains(where: { $0.matches(path) }) {
                issues.append(
                    ValidationIssue(
                        .constraints, "protected_path", path: path, "the path is protected; patches may not change it"))
            }
            if let old = file.oldPath, file.change == .deleted || file.change == .renamed,
                policy.tests.contains(where: { $0.matches(old) }),
                !(file.newPath.map { new in policy.tests.contains { $0.matches(new) } } ?? false)
            {
                issues.append(ValidationIssue(.constraints, "test_deleted", path: old, "patches may not delete tests"))
            }
        }
        return issues
    }

    static func scopeIssues(_ path: String, policy: PatchPolicy, symlinks: [String: String]) -> [ValidationIssue] {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        if path.isEmpty || path.hasPrefix("/") {
            return [ValidationIssue(.scope, "path_absolute", path: path, "paths must be relative to the repository")]
        }
        if components.contains("..") || components.contains(".") || components.contains("") {
            return [ValidationIssue(.scope, "path_traversal", path: path, "paths may not contain '..', '.' or '//'")]
        }
        if components.contains(where: { $0.lowercased() == ".git" }) {
            return [ValidationIssue(.scope, "path_git_dir", path: path, "patches may not touch .git")]
        }
        if components.first == ".sluice" {
            return [ValidationIssue(.scope, "path_sluice_dir", path: path, "patches may not touch .sluice")]
        }
        var issues: [ValidationIssue] = []
        // A path that goes through an existing link writes wherever the link leads.
        var prefix = ""
        for component in components.dropLast() {
            prefix += prefix.isEmpty ? String(component) : "/" + component
            if let target = symlinks[prefix], !staysInside(link: prefix, target: target) {
                issues.append(
                    ValidationIssue(
                        .scope, "symlink_outside", path: path,
                        "\(prefix) is a link that leads outside the repository (\(target))"))
            }
        }
        if !policy.allow.contains(where: { $0.matches(path) }) {
            issues.append(ValidationIssue(.scope, "path_not_allowed", path: path, "the path matches no allow pattern"))
        }
        if let pattern = policy.deny.first(where: { $0.matches(path) }) {
            issues.append(
                ValidationIssue(.scope, "path_denied", path: path, "the path matches deny pattern \(pattern)"))
        }
        return issues
    }

    /// Whether a link at `link` pointing at `target` resolves inside the repository.
    static func staysInside(link: String, target: String) -> Bool {
        if target.hasPrefix("/") { return false }
        var stack = link.split(separator: "/").dropLast().map(String.init)
        for component in target.split(separator: "/") {
            if component == ".." {
                if stack.isEmpty { return false }
                stack.removeLast()
            } else if component != "." {
                stack.append(String(component))
            }
        }
        return !(stack.first?.lowercased() == ".git")
    }
}
