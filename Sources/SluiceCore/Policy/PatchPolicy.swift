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
    /// Paths a patch may change only with a person's approval (`sluice patch approve`), besides the
    /// built-in ones (``ReviewRules``).
    public var review: [Glob]
    /// Built-in review entries switched off, by name (`conftest.py`, `gitlinks`, …).
    public var reviewExempt: Set<String>
    /// The largest diff taken, in bytes; a larger one is refused while it is read, before anything is stored.
    public var maxPatchBytes: Int

    public init(
        allow: [Glob] = [Glob("**")], deny: [Glob] = [], protected: [Glob] = [Glob("sluice.yml"), Glob(".ci/**")],
        tests: [Glob] = [Glob("tests/**"), Glob("test/**"), Glob("Tests/**")], maxFiles: Int = 100,
        maxChangedLines: Int = 5000, allowBinary: Bool = false, maxApplyAttempts: Int = 3,
        maxPatchBytes: Int = PatchPolicy.defaultMaxPatchBytes, review: [Glob] = [], reviewExempt: Set<String> = []
    ) {
        self.review = review
        self.reviewExempt = reviewExempt
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
        /// Not a failure: the patch needs a person's approval before it is queued.
        case review
    }

    public let check: Check
    /// Stable: `path_absolute`, `path_traversal`, `path_git_dir`, `path_sluice_dir`, `path_not_allowed`,
    /// `path_denied`, `symlink_outside`, `too_many_files`, `too_many_lines`, `binary_file`,
    /// `protected_path`, `test_deleted`, `diff_malformed`, `diff_ambiguous`, `apply_check_failed`;
    /// and, not a failure, `review_required`.
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

    /// The scope rules for one path: inside the repository, out of `.git` and `.sluice`, allowed, not denied.
    public static func scopeIssues(_ path: String, policy: PatchPolicy, symlinks: [String: String] = [:])
        -> [ValidationIssue]
    {
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
        if components.first?.lowercased() == ".sluice" {
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

    /// Whether a link at `link` pointing at `target` resolves inside the repository, and out of
    /// `.git` and `.sluice`.
    static func staysInside(link: String, target: String) -> Bool {
        if case .success = LinkResolver(links: [link: target]).resolve(link: link) { return true }
        return false
    }

    /// The links a change leaves in a tree, judged on that tree: every link the change adds, copies,
    /// renames or retargets (anything whose new mode is a link) must resolve inside the repository,
    /// following the tree's other links on the way, and reach neither `.git` nor `.sluice`.
    public static func linkIssues(_ changes: [GitReadings.RawChange], resolver: LinkResolver) -> [ValidationIssue] {
        changes.filter { $0.newMode == GitReadings.symlinkMode }.compactMap { change in
            guard case .failure(let refusal) = resolver.resolve(link: change.path) else { return nil }
            let target = resolver.links[change.path] ?? "?"
            return ValidationIssue(.scope, "symlink_outside", path: change.path, "\(refusal) (link to \(target))")
        }
    }

    /// The changes that need a person's approval: review paths (built in and configured, less the
    /// exempt ones), and gitlinks.
    public static func reviewIssues(paths: [String], gitlinks: [String], rules: [ReviewRule]) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        for path in paths {
            if let rule = rules.first(where: { $0.matches(path) }) {
                issues.append(ValidationIssue(.review, "review_required", path: path, rule.why))
            }
        }
        if rules.contains(where: { $0.name == ReviewRule.gitlinks }) {
            for path in gitlinks {
                issues.append(
                    ValidationIssue(
                        .review, "review_required", path: path, "a gitlink (submodule) brings in code from elsewhere"))
            }
        }
        return issues
    }
}
