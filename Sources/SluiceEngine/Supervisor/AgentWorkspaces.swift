import Foundation
import SluiceCore
import SluiceStore

/// The folders agents work in: one git worktree per task attempt, at the target branch's head, in the
/// scratch directory (`agents/<repository key>/<task>-e<epoch>/<task>-e<epoch>`), never inside the repository's
/// working tree. Beside each worktree: the prompt, the agent's two logs, and the agent's process
/// group (so that a later supervisor can kill what a killed one left running).
public struct AgentWorkspaces: Sendable {
    let git: any GitClient
    /// `agents/<repository key>` in the scratch directory.
    public let root: String

    package init(pipeline: Pipeline) {
        self.git = pipeline.git
        self.root = ((pipeline.scratchDirectory as NSString).appendingPathComponent("agents") as NSString)
            .appendingPathComponent(pipeline.repositoryKey)
    }

    /// One attempt's folder.
    public struct Workspace: Sendable {
        /// `<task>-e<epoch>`.
        public let folder: String
        /// The worktree the agent works in, named like its folder. (Git names a worktree's own git
        /// directory after the last part of the path it was made at: an adopted spare's keeps the
        /// spare's unique name.)
        public var tree: String { AgentWorkspaces.tree(of: folder) }
        /// The worktree's own git directory (`.git/worktrees/<name>` of the repository), read when the
        /// worktree was made: what Sluice's own git commands use, whatever the agent did to its `.git`.
        public let gitDirectory: String
        /// The commit it was made at.
        public let base: String
        /// The repository's own objects, which Sluice's commands on the worktree read but never write.
        public let commonObjects: String

        public var promptFile: String { AgentWorkspaces.promptFile(in: folder) }
        public var stdoutLog: String { AgentWorkspaces.file("stdout.log", in: folder) }
        public var stderrLog: String { AgentWorkspaces.file("stderr.log", in: folder) }
        var processGroupFile: String { AgentWorkspaces.processGroupFile(in: folder) }
        var failedMarker: String { AgentWorkspaces.failedMarker(in: folder) }
        /// Where Sluice's `git add` writes the agent's files as objects: removed with the folder, so
        /// that what an agent leaves never fills the repository.
        var objects: String { AgentWorkspaces.file("objects", in: folder) }
    }

    // What an attempt folder holds, by name.
    static func file(_ name: String, in folder: String) -> String { (folder as NSString).appendingPathComponent(name) }
    static func promptFile(in folder: String) -> String { file("prompt.txt", in: folder) }
    /// The agent's process group (a ``ProcessGroupRecord``), while it runs.
    static func processGroupFile(in folder: String) -> String { file("process-group", in: folder) }
    /// The supervisor that made the folder (``owner``): while it lives, it alone removes the folder.
    static func ownerFile(in folder: String) -> String { file("owner", in: folder) }
    /// Present (with the reason) when a failed attempt's workspace is kept for inspection.
    static func failedMarker(in folder: String) -> String { file("failed", in: folder) }

    /// Makes the worktree for an attempt at `commit`, replacing any left from an earlier try of the
    /// same attempt. With a `spare`, the spare is adopted (``adopt(_:as:at:)``); without one, or when
    /// that fails, a worktree is made.
    ///
    /// - Throws: `blocked` when git cannot make it.
    package func create(task: TaskID, epoch: Int64, at commit: String, prompt: String, spare: Spare? = nil) async throws
        -> Workspace
    {
        let folder = (root as NSString).appendingPathComponent("\(task)-e\(epoch)")
        try await remove(folder)
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data((Self.owner + "\n").utf8).write(to: URL(fileURLWithPath: Self.ownerFile(in: folder)))
            try Data(prompt.utf8).write(to: URL(fileURLWithPath: Self.promptFile(in: folder)))
        } catch {
            if let spare { await discard(spare) }
            throw SluiceError.fileSystem("create", folder, error)
        }
        let tree = Self.tree(of: folder)
        var adopted: String?
        if let spare { adopted = await adopt(spare, as: tree, at: commit) }
        let gitDirectory: String
        if let adopted { gitDirectory = adopted } else { gitDirectory = try await addWorktree(tree, at: commit) }
        // The repository's own common directory: nothing in the worktree (its `.git` file) is read.
        guard let common = GitDirectory.commonDirectory(ofWorkingTree: git.repository) else {
            throw SluiceError(code: .blocked, message: "no git directory for \(git.repository)")
        }
        return Workspace(
            folder: folder, gitDirectory: gitDirectory, base: commit,
            commonObjects: (common as NSString).appendingPathComponent("objects"))
    }

    /// The settings every git command on an agent's worktree runs with: the worktree's real git
    /// directory (not what `ws/.git` says now), and nothing an agent could plant that git would run.
    static func gitArguments(_ workspace: Workspace) -> [String] {
        gitArguments(gitDirectory: workspace.gitDirectory, tree: workspace.tree)
    }

    static func gitArguments(gitDirectory: String, tree: String) -> [String] {
        [
            "--git-dir=\(gitDirectory)", "--work-tree=\(tree)", "-c", "core.fsmonitor=false",
            "-c", "core.hooksPath=/dev/null", "-c", "core.untrackedCache=false", "-c", "diff.external=",
        ]
    }

    /// Everything the agent changed against the base, byte for byte: new files, deletions, modes,
    /// binary contents, and commits the agent made itself. Staged in the worktree's own index, its
    /// objects written beside the workspace, never in the repository.
    ///
    /// - Throws: `invalidInput` when a changed or new file is larger than `maxBytes` (the policy's
    ///   `max_patch_bytes`: no such diff could be accepted), or all of them together are more than
    ///   twice that: nothing is staged then; `blocked` when git fails.
    func diff(_ workspace: Workspace, maxBytes: Int) async throws -> [UInt8] {
        let settings = Self.gitArguments(workspace)
        try FileManager.default.createDirectory(atPath: workspace.objects, withIntermediateDirectories: true)
        let environment = [
            "GIT_OBJECT_DIRECTORY": workspace.objects, "GIT_ALTERNATE_OBJECT_DIRECTORIES": workspace.commonObjects,
        ]
        // What changed, by git's reading of the files' metadata: untracked files are listed, not read.
        let status = try await git.checkedBytes(
            settings + ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"], in: workspace.tree,
            environment: environment)
        var total = 0
        for entry in status.split(separator: 0) where entry.count > 3 {
            let path = String(decoding: entry.dropFirst(3), as: UTF8.self)
            let full = (workspace.tree as NSString).appendingPathComponent(path)
            var info = stat()
            guard lstat(full, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            let size = Int(info.st_size)
            total += size
            if size > maxBytes {
                throw SluiceError.invalidInput(
                    "the agent left \(path), \(size) bytes: larger than policy.max_patch_bytes (\(maxBytes))")
            }
            if total > 2 * maxBytes {
                throw SluiceError.invalidInput(
                    "the agent's changed files hold more than \(2 * maxBytes) bytes (twice policy.max_patch_bytes)")
            }
        }
        // Ignored files stay out, as in any commit of the repository: a build folder is not the work.
        try await git.checked(settings + ["add", "--all", "--", "."], in: workspace.tree, environment: environment)
        return try await git.checkedBytes(
            settings + [
                "diff", "--cached", "--binary", "--full-index", "--no-textconv", "--no-ext-diff", "--no-renames",
                workspace.base, "--",
            ], in: workspace.tree, environment: environment)
    }

    // MARK: - Spare worktrees

    /// A worktree made ahead of a claim (`agents/<repository key>/.spares/<owner>-<random>`), so that
    /// an agent does not wait for a whole checkout: a worker makes its next one while its agent runs.
    /// Spares live in the scratch directory, hidden from sealed agents like every other workspace.
    public struct Spare: Sendable, Hashable {
        public let tree: String
        /// Its own git directory, read when git made it: what Sluice's commands on it use, whatever
        /// its `.git` file says later.
        public let gitDirectory: String
    }

    /// Where spare worktrees are made.
    package var sparesRoot: String { (root as NSString).appendingPathComponent(".spares") }

    /// This process, as spares' names hold it: `<pid>.<start time>`, so that a spare whose supervisor
    /// is gone is known as such even when its process id has been handed out again.
    static let owner: String = "\(getpid()).\(ProcSnapshot(pid: getpid())?.startTime ?? 0)"

    /// Whether the process a spare's name (or an attempt's owner file) holds still runs.
    static func ownerLives(_ name: String) -> Bool {
        let parts =
            name.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "-").first?.split(separator: ".")
            ?? []
        guard parts.count == 2, let pid = Int32(parts[0]), let start = UInt64(parts[1]) else { return false }
        return ProcSnapshot(pid: pid)?.startTime == start
    }

    /// Makes a spare worktree at `commit`.
    ///
    /// - Throws: `blocked` when git cannot make it.
    package func makeSpare(at commit: String) async throws -> Spare {
        let random = UUID().uuidString.prefix(8).lowercased()
        let tree = (sparesRoot as NSString).appendingPathComponent("\(Self.owner)-\(random)")
        do {
            try FileManager.default.createDirectory(atPath: sparesRoot, withIntermediateDirectories: true)
        } catch {
            throw SluiceError.fileSystem("create", sparesRoot, error)
        }
        do {
            return Spare(tree: tree, gitDirectory: try await addWorktree(tree, at: commit))
        } catch {
            await discard(Spare(tree: tree, gitDirectory: ""))
            throw error
        }
    }

    /// Makes a worktree at `commit` and returns its git directory. The repository-wide lock is held
    /// only while git records it (`--no-checkout`); its files are written after, so that other
    /// workers' worktrees wait for no checkout but their own.
    ///
    /// - Throws: `blocked` when git cannot make it.
    func addWorktree(_ tree: String, at commit: String) async throws -> String {
        try await withWorktreeLock {
            try await git.checked(["worktree", "add", "--no-checkout", "--detach", "--quiet", tree, commit])
        }
        guard let gitDirectory = GitDirectory.gitDirectory(ofWorkingTree: tree) else {
            throw SluiceError(code: .blocked, message: "git made no worktree at \(tree)")
        }
        try await git.checked(
            Self.gitArguments(gitDirectory: gitDirectory, tree: tree) + ["reset", "--hard", "--quiet", commit])
        return gitDirectory
    }

    /// Moves a spare to `tree` and makes it exactly `commit`'s tree: its `.git` file written again,
    /// checked out at `commit` (only the files that differ are written; changed tracked files are put
    /// back), every untracked or ignored file removed, whatever reached the spare while it waited.
    /// Returns its git directory; nil (and the spare removed) when any step fails.
    func adopt(_ spare: Spare, as tree: String, at commit: String) async -> String? {
        do {
            try Self.link(spare)
            try await withWorktreeLock { try await git.checked(["worktree", "move", spare.tree, tree]) }
        } catch {
            await discard(spare)
            return nil
        }
        let settings = Self.gitArguments(gitDirectory: spare.gitDirectory, tree: tree)
        do {
            try await git.checked(settings + ["checkout", "--force", "--detach", "--quiet", commit])
            try await git.checked(settings + ["clean", "-ffdxq"])
            return spare.gitDirectory
        } catch {
            await discard(Spare(tree: tree, gitDirectory: spare.gitDirectory))
            return nil
        }
    }

    /// Writes a spare's `.git` file as git made it (pointing at its own git directory), whatever was
    /// written there since: git's own commands on the spare (move, remove) read it.
    static func link(_ spare: Spare) throws {
        try Data("gitdir: \(spare.gitDirectory)\n".utf8).write(
            to: URL(fileURLWithPath: (spare.tree as NSString).appendingPathComponent(".git")))
    }

    /// Removes a spare worktree.
    package func discard(_ spare: Spare) async {
        if !spare.gitDirectory.isEmpty { try? Self.link(spare) }
        if FileManager.default.fileExists(atPath: spare.tree) {
            _ = try? await withWorktreeLock { try await git.run(Self.removal(spare.tree)) }
        }
        try? FileManager.default.removeItem(atPath: spare.tree)
    }

    /// `git worktree remove` forced twice: also a worktree git left locked (`initializing`) when a
    /// supervisor was killed while git made it.
    static func removal(_ tree: String) -> [String] { ["worktree", "remove", "--force", "--force", tree] }

    /// Unlocks the worktrees git still records under the agents' folder whose folder is gone (git
    /// locks a worktree while it makes one; a supervisor killed then leaves the lock), so that
    /// `git worktree prune` forgets them. Returns how many.
    @discardableResult
    func unlockVanished() -> Int {
        guard let common = GitDirectory.commonDirectory(ofWorkingTree: git.repository) else { return 0 }
        let records = (common as NSString).appendingPathComponent("worktrees")
        var unlocked = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: records)) ?? [] {
            let record = (records as NSString).appendingPathComponent(name)
            let lock = (record as NSString).appendingPathComponent("locked")
            guard FileManager.default.fileExists(atPath: lock),
                let pointer = try? String(contentsOfFile: record + "/gitdir", encoding: .utf8)
            else { continue }
            // `gitdir` names the worktree's `.git` file.
            let tree = ((pointer.trimmingCharacters(in: .whitespacesAndNewlines)) as NSString).deletingLastPathComponent
            // git may have written the path with its symbolic links resolved.
            let ours = [root, (root as NSString).resolvingSymlinksInPath].contains { tree.hasPrefix($0 + "/") }
            guard ours, !FileManager.default.fileExists(atPath: tree) else { continue }
            if (try? FileManager.default.removeItem(atPath: lock)) != nil { unlocked += 1 }
        }
        return unlocked
    }

    /// Removes the spares of supervisors that are gone; returns how many.
    func removeOrphanedSpares() async -> Int {
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: sparesRoot)) ?? []
        where !Self.ownerLives(name) {
            await discard(Spare(tree: (sparesRoot as NSString).appendingPathComponent(name), gitDirectory: ""))
            removed += 1
        }
        return removed
    }

    /// Removes a workspace: the worktree (forgotten by git) and its folder.
    func remove(_ folder: String) async throws {
        let tree = Self.tree(of: folder)
        if FileManager.default.fileExists(atPath: tree) {
            _ = try await withWorktreeLock { try await git.run(Self.removal(tree)) }
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    func withWorktreeLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await WorktreeLock.holding(for: git.repository, body)
    }

    /// The worktree of an attempt folder: `<folder>/<folder's name>`.
    static func tree(of folder: String) -> String {
        (folder as NSString).appendingPathComponent((folder as NSString).lastPathComponent)
    }

    /// Marks a failed attempt's workspace kept for inspection, with the reason.
    func keepFailed(_ workspace: Workspace, reason: String) {
        try? Data((reason + "\n").utf8).write(to: URL(fileURLWithPath: workspace.failedMarker))
    }

    /// Kept failed workspaces, oldest first, with their sizes in bytes.
    func keptFailed() -> [(folder: String, bytes: Int64, at: Date)] {
        let files = FileManager.default
        return ((try? files.contentsOfDirectory(atPath: root)) ?? []).compactMap { name in
            let folder = (root as NSString).appendingPathComponent(name)
            guard let attributes = try? files.attributesOfItem(atPath: Self.failedMarker(in: folder)),
                let date = attributes[.modificationDate] as? Date
            else { return nil }
            return (folder, Self.size(of: folder), date)
        }.sorted { $0.at < $1.at }
    }

    /// Removes kept failed workspaces, oldest first, until at most `count` remain and they hold at
    /// most `bytes`; returns the folders removed.
    @discardableResult
    func trimFailed(keeping count: Int, bytes: Int64) async throws -> [String] {
        var kept = keptFailed()
        var total = kept.reduce(0) { $0 + $1.bytes }
        var removed: [String] = []
        while !kept.isEmpty, kept.count > count || total > bytes {
            let oldest = kept.removeFirst()
            total -= oldest.bytes
            try await remove(oldest.folder)
            removed.append(oldest.folder)
        }
        return removed
    }

    /// Kills the agents of attempts whose claim is over (a killed supervisor's) and removes their
    /// workspaces (unless the supervisor that made one still runs: it removes its own) and the spares
    /// of supervisors that are gone; kept failed ones stay for `sluice worker gc`. Returns how many
    /// it removed.
    @discardableResult
    func cleanUpStale(_ storage: any Storage) async throws -> Int {
        var removed = await removeOrphanedSpares()
        for attempt in all() {
            let task = try await storage.task(attempt.task)
            if let task, task.state == .running, task.epoch == attempt.epoch { continue }
            let groupFile = Self.processGroupFile(in: attempt.folder)
            if let line = try? String(contentsOfFile: groupFile, encoding: .utf8),
                let record = ProcessGroupRecord(line: line)
            {
                record.killIfStillOurs()
                try? FileManager.default.removeItem(atPath: groupFile)
            }
            // A supervisor that still runs removes its own attempts' folders, after archiving their
            // logs: an attempt that has just ended is not stale.
            let owner = try? String(contentsOfFile: Self.ownerFile(in: attempt.folder), encoding: .utf8)
            if let owner, Self.ownerLives(owner) { continue }
            if !FileManager.default.fileExists(atPath: Self.failedMarker(in: attempt.folder)) {
                try await remove(attempt.folder)
                removed += 1
            }
        }
        return removed
    }

    /// Every attempt folder here, with the task and epoch its name holds.
    func all() -> [(folder: String, task: TaskID, epoch: Int64)] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap { name in
            guard let dash = name.range(of: "-e", options: .backwards), let epoch = Int64(name[dash.upperBound...]),
                let task = try? TaskID(parsing: String(name[..<dash.lowerBound]))
            else { return nil }
            return ((root as NSString).appendingPathComponent(name), task, epoch)
        }
    }

    /// Bytes of the regular files under `path`, symbolic links not followed.
    static func size(of path: String) -> Int64 {
        guard let walker = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        while walker.nextObject() != nil {
            if let attributes = walker.fileAttributes, attributes[.type] as? FileAttributeType == .typeRegular {
                total += (attributes[.size] as? NSNumber)?.int64Value ?? 0
            }
        }
        return total
    }

    /// A cheap fingerprint of a worktree's files (names, sizes, modification times, inodes; `.git`
    /// left out): it changes when the agent writes, creates, deletes or renames a file. A walk with
    /// readdir and fstatat: Foundation's enumerator costs some ten times more, and the supervisor
    /// walks every agent's workspace.
    static let dot = Array(".".utf8)
    static let dotDot = Array("..".utf8)
    static let dotGit = Array(".git".utf8)

    static func fingerprint(of tree: String) -> Int {
        var hasher = Hasher()
        func walk(_ directory: Int32, depth: Int) {
            guard depth < 64, let stream = fdopendir(directory) else {
                close(directory)
                return
            }
            defer { closedir(stream) }
            while let entry = readdir(stream) {
                // The name's bytes as they are: no string is made for it.
                var info = stat()
                let counted = withUnsafeBytes(of: &entry.pointee.d_name) { raw -> Bool in
                    let name = UnsafeRawBufferPointer(rebasing: raw.prefix { $0 != 0 })
                    if name.elementsEqual(Self.dot) || name.elementsEqual(Self.dotDot)
                        || (depth == 0 && name.elementsEqual(Self.dotGit))
                    {
                        return false
                    }
                    guard
                        fstatat(
                            dirfd(stream), raw.baseAddress!.assumingMemoryBound(to: CChar.self), &info,
                            AT_SYMLINK_NOFOLLOW)
                            == 0
                    else { return false }
                    hasher.combine(bytes: name)
                    return true
                }
                guard counted else { continue }
                hasher.combine(info.st_size)
                hasher.combine(info.st_mtim.tv_sec)
                hasher.combine(info.st_mtim.tv_nsec)
                hasher.combine(info.st_ino)
                if (info.st_mode & S_IFMT) == S_IFDIR {
                    let child = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                        openat(
                            dirfd(stream), raw.baseAddress!.assumingMemoryBound(to: CChar.self),
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    }
                    if child >= 0 { walk(child, depth: depth + 1) }
                }
            }
        }
        let root = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { return 0 }
        walk(root, depth: 0)
        return hasher.finalize()
    }
}
