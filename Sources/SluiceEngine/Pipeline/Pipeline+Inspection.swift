import SluiceCore

/// How a patch is judged. git is the authority on what a patch changes: Sluice's own parse must
/// agree with git's reading of the diff (`git apply --numstat`), and, once git has applied it, with
/// the change git really made to the tree (`git diff-tree`). Any disagreement is `diff_ambiguous`,
/// never a guess. Links are judged on the tree that results.
extension Pipeline {
    /// A patch judged against a configuration.
    struct Inspection: Sendable {
        /// The patch as Sluice parsed it; nil when it does not parse.
        var diff: UnifiedDiff?
        /// Failures: format, scope, constraints.
        var issues: [ValidationIssue] = []
        /// What needs a person's approval.
        var reviews: [ValidationIssue] = []
        /// Why it does not apply to the head it was tried on; nil when it applies (or was not tried).
        var applyProblem: String?
    }

    /// Judges a submitted patch without touching any working tree: git's reading, the policy, and,
    /// when it applies to `head`, the tree it would make there.
    func inspect(_ bytes: [UInt8], config: SluiceConfig, head: String) async throws -> Inspection {
        var inspection = try await read(bytes, config: config, links: try await git.symlinks(at: head))
        guard let diff = inspection.diff, inspection.issues.isEmpty else { return inspection }
        let trial: Result<String, Problem> = try await git.withTemporaryIndex(at: head) { environment in
            let applied = try await git.run(
                ["apply", "--cached", "--whitespace=nowarn", "-"], input: bytes, environment: environment)
            guard applied.succeeded else { return .failure(Problem(message: applied.message)) }
            return .success(try await git.checked(["write-tree"], environment: environment))
        }
        switch trial {
        case .failure(let problem): inspection.applyProblem = problem.message
        case .success(let tree):
            let judged = try await judge(diff, base: head, tree: tree, config: config)
            inspection.issues += judged.issues
            inspection.reviews += judged.reviews.filter { !inspection.reviews.contains($0) }
        }
        return inspection
    }

    /// What can be judged from the diff alone: Sluice's parse, git's reading of it (they must agree),
    /// scope (`links`: the links of the tree it is meant for, which no path may go through to leave
    /// the repository), constraints and review paths.
    func read(_ bytes: [UInt8], config: SluiceConfig, links: [String: String]) async throws -> Inspection {
        var inspection = Inspection()
        let diff: UnifiedDiff
        do {
            diff = try DiffParser.parse(bytes)
        } catch let error as DiffError {
            inspection.issues.append(ValidationIssue(.format, "diff_malformed", path: nil, error.description))
            return inspection
        }
        let numstat = try await git.run(["apply", "--numstat", "-z", "-"], input: bytes)
        guard numstat.succeeded else {
            inspection.issues.append(
                ValidationIssue(.format, "diff_malformed", path: nil, "git cannot read it: \(numstat.message)"))
            return inspection
        }
        let disagreements = GitReadings.disagreements(diff, try GitReadings.numstat(numstat.stdout))
        guard disagreements.isEmpty else {
            inspection.issues.append(
                ValidationIssue(.format, "diff_ambiguous", path: nil, disagreements.joined(separator: "; ")))
            return inspection
        }
        inspection.diff = diff
        inspection.issues += PolicyCheck.issues(of: diff, policy: config.policy, symlinks: links)
        inspection.reviews += PolicyCheck.reviewIssues(
            paths: Pipeline.aliases(of: diff.files.flatMap(\.paths), through: links),
            gitlinks: diff.files.filter { $0.newMode == GitReadings.gitlinkMode }.map(\.path),
            rules: ReviewRules.rules(for: config))
        return inspection
    }

    /// Judges the tree git made by applying `diff` on `base`: git must have changed exactly the paths
    /// the diff names; every link the change leaves must resolve inside the repository; gitlinks and
    /// review paths it really changed need approval.
    func judge(_ diff: UnifiedDiff, base: String, tree: String, config: SluiceConfig) async throws -> (
        issues: [ValidationIssue], reviews: [ValidationIssue]
    ) {
        let changes = try GitReadings.rawChanges(
            try await git.checkedBytes(["diff-tree", "-r", "-z", "--no-renames", "--no-abbrev", base, tree]))
        var issues: [ValidationIssue] = []
        let undeclared = GitReadings.undeclared(diff, changes)
        if !undeclared.isEmpty {
            issues.append(ValidationIssue(.format, "diff_ambiguous", path: nil, undeclared.joined(separator: "; ")))
        }
        for change in changes {
            let scope = PolicyCheck.scopeIssues(change.path, policy: config.policy, symlinks: [:])
            issues += scope.filter { !issues.contains($0) }
        }
        if changes.contains(where: { $0.newMode == GitReadings.symlinkMode }) {
            let resolver = LinkResolver(links: try await git.symlinks(at: tree))
            issues += PolicyCheck.linkIssues(changes, resolver: resolver)
        }
        let reviews = PolicyCheck.reviewIssues(
            paths: changes.map(\.path), gitlinks: changes.filter { $0.newMode == GitReadings.gitlinkMode }.map(\.path),
            rules: ReviewRules.rules(for: config))
        return (issues, reviews)
    }

    /// The paths, and each path again as it is reached through a link of the tree (`ci -> tools` makes
    /// `tools/check.sh` also `ci/check.sh`): a review path reached through a link is still one.
    static func aliases(of paths: [String], through links: [String: String]) -> [String] {
        guard !links.isEmpty else { return paths }
        let resolver = LinkResolver(links: links)
        var all = paths
        for link in links.keys.sorted() {
            guard case .success(let target) = resolver.resolve(link: link), !target.isEmpty else { continue }
            for path in paths where path == target || path.hasPrefix(target + "/") {
                let alias = link + path.dropFirst(target.count)
                if !all.contains(alias) { all.append(alias) }
            }
        }
        return all
    }

    /// A revert may delete the tests its original added: `test_deleted` is waived for those paths.
    func waivingRevertedTests(_ issues: [ValidationIssue], of id: LedgerID) async throws -> [ValidationIssue] {
        guard issues.contains(where: { $0.code == "test_deleted" }),
            let original = try await engine.patches.get(id).relations.rollbackOfPatchID,
            let entry = try await engine.context.storage.patch(patchID: original),
            let source = try await engine.context.storage.patchSource(entry.ledgerID),
            let diff = try? DiffParser.parse(source.bytes)
        else { return issues }
        let added = Set(diff.files.filter { $0.change == .added || $0.change == .copied }.compactMap(\.newPath))
        return issues.filter { !($0.code == "test_deleted" && $0.path.map(added.contains) == true) }
    }

    struct Problem: Error {
        var message: String
    }
}
