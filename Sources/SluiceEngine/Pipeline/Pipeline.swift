import Foundation
import SluiceCore
import SluiceStore
import Synchronization

/// The landing pipeline: takes patches in, validates them against the target branch's policy,
/// applies each in a git worktree of its own, runs the gates there, and lands what passed on the
/// target branch with a compare-and-swap, or quarantines it with the reason.
public struct Pipeline: Sendable {
    public let engine: Engine
    /// git, for everything the pipeline does in the repository and its workspace: ``Git`` unless a
    /// test gave a scripted one.
    public let git: any GitClient
    /// `.sluice/` at the repository root: logs, quarantine, the run lock (and by default the ledger).
    public let sluiceDirectory: String
    /// Where the run's workspace and the gates' caches live, away from `.sluice/` so that no gate
    /// reaches the ledger from its workspace: `workspaces/<repository key>/run` and
    /// `gate-cache/<repository key>`. Shared by every repository of the user; keyed by a hash of
    /// the repository's path.
    public let scratchDirectory: String
    /// Finds the bubblewrap that seals gates, once per run; replaceable (a test stands in a machine without it).
    public var locateBubblewrap: @Sendable () async -> Result<String, SandboxUnavailable> = {
        await ProcessSandbox.locateBubblewrap()
    }
    /// The environment gates may inherit from (`pass_env`): Sluice's own; replaceable, so that a test
    /// need not change its process's environment while other threads start processes.
    public var inheritedEnvironment: @Sendable () -> [String: String] = { ProcessInfo.processInfo.environment }
    /// Starts the gates' processes: ``ProcessRunner`` unless a test gave another.
    let processes: any ProcessLaunching
    /// `sluice.yml` as last read, by commit (see ``ConfigurationMemo``).
    let configurationMemo = ConfigurationMemo()

    /// Creates the pipeline for the repository whose top directory is `repository`.
    ///
    /// - Parameter scratchDirectory: defaults to ``defaultScratchDirectory(environment:)``.
    public init(engine: Engine, repository: String, sluiceDirectory: String? = nil, scratchDirectory: String? = nil) {
        self.init(
            engine: engine, git: Git(repository: repository), processes: ProcessRunner(),
            sluiceDirectory: sluiceDirectory, scratchDirectory: scratchDirectory)
    }

    /// Creates the pipeline over a git and a process launcher of the caller's (a test's script).
    package init(
        engine: Engine, git: any GitClient, processes: any ProcessLaunching, sluiceDirectory: String? = nil,
        scratchDirectory: String? = nil
    ) {
        self.engine = engine
        self.git = git
        self.sluiceDirectory = sluiceDirectory ?? (git.repository as NSString).appendingPathComponent(".sluice")
        self.scratchDirectory = scratchDirectory ?? Pipeline.defaultScratchDirectory()
        self.processes = processes
    }

    /// `$XDG_CACHE_HOME/sluice`, else `~/.cache/sluice`, else `sluice-<uid>` in the temporary folder.
    public static func defaultScratchDirectory(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        if let cache = environment["XDG_CACHE_HOME"], cache.hasPrefix("/") {
            return (cache as NSString).appendingPathComponent("sluice")
        }
        if let home = environment["HOME"], home.hasPrefix("/") {
            return (home as NSString).appendingPathComponent(".cache/sluice")
        }
        return (FileManager.default.temporaryDirectory.path as NSString).appendingPathComponent("sluice-\(getuid())")
    }

    /// The first 16 hex digits of the SHA-256 of the repository's path: its folder in the scratch directory.
    var repositoryKey: String {
        let path = URL(fileURLWithPath: repository).standardizedFileURL.path
        return String(SHA256.hex(Array(path.utf8)).prefix(16))
    }

    /// The gates' cache (`XDG_CACHE_HOME` for them), kept between runs, never shared with the ledger.
    var gateCachePath: String {
        ((scratchDirectory as NSString).appendingPathComponent("gate-cache") as NSString)
            .appendingPathComponent(repositoryKey)
    }

    var repository: String { git.repository }

    /// Creates `.sluice/` and keeps it out of git's view (`info/exclude` of the repository's common git
    /// folder, which a linked worktree shares), so that its database, workspaces and logs never show up
    /// as changes.
    ///
    /// - Throws: `blocked`, one sentence naming the path, when a folder or file cannot be written.
    public func prepare() throws {
        do {
            try FileManager.default.createDirectory(atPath: sluiceDirectory, withIntermediateDirectories: true)
        } catch {
            throw SluiceError.fileSystem("create", sluiceDirectory, error)
        }
        guard let common = GitDirectory.commonDirectory(ofWorkingTree: repository) else { return }
        let info = (common as NSString).appendingPathComponent("info")
        let exclude = (info as NSString).appendingPathComponent("exclude")
        let current = (try? String(contentsOfFile: exclude, encoding: .utf8)) ?? ""
        if !current.split(separator: "\n").contains(where: { $0 == ".sluice/" || $0 == "/.sluice/" }) {
            let line = (current.isEmpty || current.hasSuffix("\n") ? "" : "\n") + "/.sluice/\n"
            do {
                try FileManager.default.createDirectory(atPath: info, withIntermediateDirectories: true)
                try Data((current + line).utf8).write(to: URL(fileURLWithPath: exclude))
            } catch {
                throw SluiceError.fileSystem("write", exclude, error)
            }
        }
    }

    func path(_ components: String...) -> String {
        components.reduce(sluiceDirectory) { ($0 as NSString).appendingPathComponent($1) }
    }

    // MARK: - Configuration

    /// Where `sluice init` records the target branch.
    public var targetBranchFile: String { path("target-branch") }

    /// The branch recorded by `sluice init`, if any.
    public func recordedTargetBranch() -> String? {
        guard let recorded = try? String(contentsOfFile: targetBranchFile, encoding: .utf8) else { return nil }
        let branch = recorded.trimmingCharacters(in: .whitespacesAndNewlines)
        return branch.isEmpty ? nil : branch
    }

    /// Records `branch` as the target branch (`sluice init`): runs then ask git for none.
    ///
    /// - Throws: `blocked`, naming the file, when it cannot be written.
    public func recordTargetBranch(_ branch: String) throws {
        do {
            try Data((branch + "\n").utf8).write(to: URL(fileURLWithPath: targetBranchFile))
        } catch {
            throw SluiceError.fileSystem("write", targetBranchFile, error)
        }
    }

    /// The branch to land on when `sluice.yml` names none: the one recorded by `sluice init`,
    /// else the branch checked out now.
    public func defaultBranch() async throws -> String {
        if let branch = recordedTargetBranch() { return branch }
        if let branch = try await git.checkedOutBranch() { return branch }
        throw SluiceError.invalidInput(
            "HEAD is detached and no target branch was recorded: run `sluice init` on a branch")
    }

    /// The configuration as the target branch has it (never as a patch or the working tree has it),
    /// with the commit it was read from.
    public func configuration() async throws -> (SluiceConfig, String) {
        let fallback = try await defaultBranch()
        guard let fallbackHead = try await git.commit(of: "refs/heads/\(fallback)") else {
            throw SluiceError.invalidInput("the target branch \(fallback) does not exist")
        }
        var text = try await configText(at: fallbackHead)
        var config = try ConfigLoader.parse(text, defaultBranch: fallback)
        var head = fallbackHead
        if config.targetBranch != fallback {
            guard let named = try await git.commit(of: "refs/heads/\(config.targetBranch)") else {
                throw SluiceError.invalidInput(
                    "the target branch \(config.targetBranch) named in sluice.yml does not exist")
            }
            head = named
            text = try await configText(at: head)
            config = try ConfigLoader.parse(text, defaultBranch: config.targetBranch)
        }
        return (config, head)
    }

    /// `given` when the caller has read the configuration already, else ``configuration()``.
    func configuration(given: (SluiceConfig, String)?) async throws -> (SluiceConfig, String) {
        if let given { return given }
        return try await configuration()
    }

    /// `sluice.yml` at a commit, as text; empty when there is none.
    func configText(at commit: String) async throws -> String {
        if let known = configurationMemo.text(at: commit) { return known }
        guard let bytes = try await git.file(ConfigLoader.fileName, at: commit) else {
            configurationMemo.remember("", at: commit)
            return ""
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SluiceError.invalidInput("\(ConfigLoader.fileName) at \(commit.prefix(12)) is not UTF-8 text")
        }
        configurationMemo.remember(text, at: commit)
        return text
    }

    // MARK: - Submission

    /// What to submit with a diff.
    public struct Submission: Sendable {
        public var project: String
        public var workstream: String?
        public var phase: String?
        public var request: ExecutionRequestID?
        public var message: String?
        /// Leave a valid patch validated instead of queueing it.
        public var hold: Bool
        public var relations: PatchRelations
        /// The commit the patch was made on (any revision of the repository); it lets a plain diff merge
        /// onto a branch that moved since.
        public var base: String?
        /// Who wrote it, `Name <email>`: the author of the commit that lands it.
        public var author: String?
        /// How soon the run takes it: the highest priority first, then the oldest.
        public var priority: PatchPriority

        public init(
            project: String, workstream: String? = nil, phase: String? = nil, request: ExecutionRequestID? = nil,
            message: String? = nil, hold: Bool = false, relations: PatchRelations = PatchRelations(),
            base: String? = nil, author: String? = nil, priority: PatchPriority = .normal
        ) {
            self.priority = priority
            self.base = base
            self.author = author
            self.project = project
            self.workstream = workstream
            self.phase = phase
            self.request = request
            self.message = message
            self.hold = hold
            self.relations = relations
        }
    }

    /// Stores the diff, creates the ledger entry, validates it at once, and queues it when valid;
    /// an invalid patch is quarantined with its validation errors.
    ///
    /// The configuration is read first: when it cannot be (an invalid `sluice.yml`, no target branch,
    /// a repository without commits), nothing is stored, so a retrying agent leaves no duplicates.
    ///
    /// - Parameter configuration: the target branch's configuration and head, when the caller has
    ///   read them already (to bound what it read); else they are read here.
    /// - Throws: `invalidInput` for an empty diff or project, a diff past `policy.max_patch_bytes`, or a
    ///   configuration that cannot be read (nothing is stored).
    public func submit(
        _ bytes: [UInt8], _ submission: Submission, configuration: (SluiceConfig, String)? = nil
    ) async throws -> PatchLedgerEntry {
        guard !bytes.isEmpty else { throw SluiceError.invalidInput("the diff is empty") }
        let (config, head) = try await self.configuration(given: configuration)
        try Pipeline.checkSize(bytes.count, config)
        let entry = try await engine.patches.create(
            project: submission.project, phase: submission.phase, workstream: submission.workstream,
            request: submission.request, relations: submission.relations, source: try await source(bytes, submission))
        return try await validate(entry.ledgerID, hold: submission.hold, configuration: (config, head))
    }

    /// The diff with what its submission says of it: message, the commit it was made on, author.
    ///
    /// - Throws: `invalidInput` for a base that is no commit here, or an author that is not `Name <email>`.
    func source(_ bytes: [UInt8], _ submission: Submission) async throws -> PatchSource {
        PatchSource(
            bytes: bytes, message: submission.message, madeOn: try await resolveBase(submission.base),
            author: try Authorship.checked(submission.author), priority: submission.priority)
    }

    /// The commit a `--base` revision names, in full. - Throws: `invalidInput` when it names none.
    func resolveBase(_ revision: String?) async throws -> String? {
        guard let revision else { return nil }
        guard !revision.hasPrefix("-"), let commit = try await git.commit(of: revision) else {
            throw SluiceError.invalidInput("--base: '\(revision)' is not a commit of this repository")
        }
        return commit
    }

    /// Refuses a diff of `count` bytes when it is past the policy's `max_patch_bytes`.
    ///
    /// - Throws: `invalidInput` naming the limit and where it is set.
    public static func checkSize(_ count: Int, _ config: SluiceConfig) throws {
        let limit = config.policy.maxPatchBytes
        guard count > limit else { return }
        throw SluiceError.invalidInput(
            "the diff is larger than policy.max_patch_bytes (\(limit) bytes) of \(ConfigLoader.fileName) on "
                + "\(config.targetBranch): split it into smaller patches, or raise the limit there")
    }

    /// Checks a created patch on git's reading of it: format (Sluice's parse and git's agree), scope,
    /// constraints and, when it applies to the target branch's head, the tree it makes there.
    /// Valid: validated, then queued unless held (with `hold`, or because it changes review paths,
    /// until a person approves it). Invalid: apply_failed, then quarantined with the errors. A patch
    /// that does not apply to the head yet is queued all the same: it may apply once patches ahead of
    /// it have landed.
    public func validate(_ id: LedgerID, hold: Bool = false) async throws -> PatchLedgerEntry {
        try await validate(id, hold: hold, configuration: nil)
    }

    func validate(_ id: LedgerID, hold: Bool, configuration: (SluiceConfig, String)?) async throws
        -> PatchLedgerEntry
    {
        guard let source = try await engine.context.storage.patchSource(id) else {
            throw SluiceError.invalidInput("patch \(id) has no diff to validate")
        }
        let (config, head) = try await self.configuration(given: configuration)
        let inspection = try await inspect(source.bytes, config: config, head: head)
        let issues = try await waivingRevertedTests(inspection.issues, of: id)
        var notes: [String] = []
        if !inspection.reviews.isEmpty {
            notes.append(
                "held for review: " + inspection.reviews.map(\.description).joined(separator: "; ")
                    + "; a person approves it with `sluice patch approve \(id) --by NAME`")
        }
        if let problem = inspection.applyProblem {
            notes.append("does not apply to \(config.targetBranch) at \(head.prefix(12)) yet: \(problem)")
        }
        let entry = try await engine.patches.validate(
            id, formatOK: !issues.contains { $0.check == .format }, scopeOK: !issues.contains { $0.check == .scope },
            constraintsOK: !issues.contains { $0.check == .constraints }, errors: issues.map(\.description),
            note: notes.isEmpty ? nil : notes.joined(separator: "; "))
        guard entry.state == .validated else {
            return try await quarantine(
                id, reason: "validation failed: " + issues.map(\.description).joined(separator: "; "))
        }
        return await hold || !inspection.reviews.isEmpty ? entry : try engine.patches.queue(id)
    }

    // MARK: - Quarantine and rollback

    /// Quarantines a patch: keeps its diff, its gate logs and the reason under
    /// `.sluice/quarantine/<ledger id>/`, records that path, and removes its workspace.
    @discardableResult
    public func quarantine(_ id: LedgerID, reason: String) async throws -> PatchLedgerEntry {
        let directory = path("quarantine", id.description)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let source = try await engine.context.storage.patchSource(id) {
            try Data(source.bytes).write(
                to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("patch.diff")))
        }
        try Data((reason + "\n").utf8).write(
            to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("reason.txt")))
        let logs = path("logs", id.description)
        if let names = try? FileManager.default.contentsOfDirectory(atPath: logs) {
            for name in names {
                let target = (directory as NSString).appendingPathComponent(name)
                try? FileManager.default.removeItem(atPath: target)
                try? FileManager.default.copyItem(
                    atPath: (logs as NSString).appendingPathComponent(name), toPath: target)
            }
        }
        return try await engine.patches.quarantine(id, reason: reason, path: directory)
    }

    /// Rolls back an applied or verified patch and discards its workspace.
    @discardableResult
    public func rollback(_ id: LedgerID, reason: String) async throws -> PatchLedgerEntry {
        let entry = try await engine.patches.rollback(id, reason: reason)
        // The workspace belongs to the running `sluice run`, if there is one, which resets it anyway.
        if let lock = try? RunLock(path: path("run.lock")) {
            defer { lock.release() }
            try await removeWorkspace()
        }
        return entry
    }

    /// Creates the patch that undoes a committed one: the reverse of what it landed, gated like any other.
    public func revert(_ id: LedgerID, message: String? = nil) async throws -> PatchLedgerEntry {
        let original = try await engine.patches.get(id)
        guard original.state == .committed else {
            throw SluiceError.invalidTransition(
                "revert", "patch", original.ledgerID.description, from: original.state.rawValue, needs: ["committed"])
        }
        guard let landed = try await engine.context.storage.patchSource(original.ledgerID)?.landedCommit else {
            throw SluiceError.invalidInput(
                "patch \(original.ledgerID) was not landed by the pipeline: there is no commit to revert")
        }
        let reverse = try await git.checkedBytes(["diff", "--binary", "--full-index", landed, landed + "^"])
        return try await submit(
            reverse,
            Submission(
                project: original.projectID, workstream: original.workstreamID, phase: original.phaseID,
                request: original.executionRequestID, message: message ?? "Revert patch \(original.patchID)",
                relations: PatchRelations(rollbackOfPatchID: original.patchID, chainID: original.relations.chainID)))
    }

    // MARK: - Workspaces

    /// The run's workspace: one git worktree, reset to the target branch's head for each patch.
    /// Creating a worktree writes every file of the repository, resetting one rewrites only the files
    /// that differ, so a run creates it once and removes it when it ends. It lives in the scratch
    /// directory, where `../..` is no ledger.
    var workspacePath: String { (workspacesDirectory as NSString).appendingPathComponent("run") }

    /// This repository's folder of workspaces.
    var workspacesDirectory: String {
        ((scratchDirectory as NSString).appendingPathComponent("workspaces") as NSString)
            .appendingPathComponent(repositoryKey)
    }

    /// The repository a pipeline's workspace belongs to, as recorded beside it (`repository` in its
    /// folder) when it was created; nil for anything else.
    package static func repository(ofWorkspace workspace: String) -> String? {
        let record = ((workspace as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent("repository")
        guard let text = try? String(contentsOfFile: record, encoding: .utf8) else { return nil }
        let repository = String(text.dropLast(text.hasSuffix("\n") ? 1 : 0))
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: repository, isDirectory: &isDirectory), isDirectory.boolValue
        else { return nil }
        return repository
    }

    /// The run's workspace made anew at `commit`: every workspace of the repository removed, then one
    /// worktree added. Resetting the one that exists is the landing's first step (``LandingMachine``);
    /// this is what it falls back on when that fails, or when there is none.
    @discardableResult
    func recreateWorkspace(at commit: String) async throws -> String {
        let workspace = workspacePath
        try await removeWorkspace()
        try FileManager.default.createDirectory(atPath: workspacesDirectory, withIntermediateDirectories: true)
        // The folder is named by a hash: `patch rollback` reads the repository back from here.
        try Data((repository + "\n").utf8).write(
            to: URL(fileURLWithPath: (workspacesDirectory as NSString).appendingPathComponent("repository")))
        try await WorktreeLock.holding(for: repository) {
            try await git.checked(["worktree", "add", "--detach", "--quiet", workspace, commit])
        }
        return workspace
    }

    /// Removes every workspace of this repository (and any left in `.sluice/workspaces/` by a version
    /// that kept them there) and forgets them in git.
    func removeWorkspace() async throws {
        // A `worktree add` stopped half way (killed, or past its time limit) leaves the worktree locked
        // ("initializing"), which neither `remove --force` nor `prune` touches, and every later `add`
        // of the same path fails: it is unlocked first.
        _ = try await WorktreeLock.holding(for: repository) {
            try await git.run(["worktree", "unlock", workspacePath])
        }
        for directory in [workspacesDirectory, path("workspaces")] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where name != "repository" {
                let workspace = (directory as NSString).appendingPathComponent(name)
                _ = try await WorktreeLock.holding(for: repository) {
                    try await git.run(["worktree", "remove", "--force", workspace])
                }
                try? FileManager.default.removeItem(atPath: workspace)
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
        _ = try await WorktreeLock.holding(for: repository) { try await git.run(["worktree", "prune"]) }
    }
}

/// `sluice.yml` as the pipeline last read it, with the commit it was read at. A landing whose patch
/// leaves the file alone carries it to the commit it made (the patch's paths are all the tree's
/// changes, or the inspection refused it), so the next patch's configuration costs no `git show`.
/// Also the patch last landed, with its commit, so the next patch's vanished-tests check costs no
/// `git log`.
package final class ConfigurationMemo: Sendable {
    private let last = Mutex<(commit: String, text: String)?>(nil)

    package init() {}

    /// The text at `commit`, when that is the commit last read or carried to.
    package func text(at commit: String) -> String? {
        last.withLock { $0?.commit == commit ? $0?.text : nil }
    }

    package func remember(_ text: String, at commit: String) {
        last.withLock { $0 = (commit, text) }
    }

    private let landing = Mutex<(commit: String, ledgerID: LedgerID)?>(nil)

    /// The patch this process last landed as `commit`, when `commit` is that landing.
    package func landed(_ commit: String) -> LedgerID? {
        landing.withLock { $0?.commit == commit ? $0?.ledgerID : nil }
    }

    /// Remembers that `ledgerID` landed as `commit`: the next patch's vanished-tests check asks.
    package func remember(landed commit: String, by ledgerID: LedgerID) {
        landing.withLock { $0 = (commit, ledgerID) }
    }

    /// After `landed` was made on `base` from a patch changing `paths`: the file at `landed` is the
    /// one at `base` unless the patch changed it.
    package func carry(from base: String, to landed: String, changing paths: [String]) {
        guard !paths.contains(ConfigLoader.fileName) else { return }
        last.withLock { memo in
            if let known = memo, known.commit == base { memo = (landed, known.text) }
        }
    }
}
