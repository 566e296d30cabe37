import Foundation

/// An exclusive lock on `sluice-worktrees.lock` in a repository's common git directory, taken around
/// adding and removing worktrees: `git worktree add` reads every other worktree's files, and dies on
/// one that another process is halfway through adding ("failed to read …/commondir"). Every Sluice
/// process on the repository (supervisors, runs) takes it.
enum WorktreeLock {
    /// Runs `body` holding the lock of the repository whose working tree is `repository`; without a
    /// git directory to put it in, runs it unlocked.
    static func holding<T: Sendable>(for repository: String, _ body: () async throws -> T) async throws -> T {
        guard let common = GitDirectory.commonDirectory(ofWorkingTree: repository) else { return try await body() }
        let path = (common as NSString).appendingPathComponent("sluice-worktrees.lock")
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return try await body() }
        defer { close(descriptor) }
        // flock blocks: on a thread of its own, not the concurrency pool's.
        await withCheckedContinuation { (locked: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                while flock(descriptor, LOCK_EX) == -1, errno == EINTR {}
                locked.resume()
            }
        }
        defer { flock(descriptor, LOCK_UN) }
        return try await body()
    }
}
