import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine

extension PatchCommand {
    /// `sluice patch submit`: a diff in, validated at once, queued when valid.
    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Submit a unified diff: stored, validated at once, and queued when valid (exit 1 when rejected).",
            discussion: """
                The diff comes from FILE, from standard input (-), or from the uncommitted changes of a git worktree \
                (--from-worktree PATH, new files included; that worktree is not touched). A `git format-patch` mail \
                keeps its author, date, subject and body in the landed commit (Sluice is the committer); a mailbox \
                of several patches becomes one patch each, chained (relations.chain_id) and landed in order.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The diff file, or - for standard input.") var file: String?
        @Option(help: "Take the diff from this worktree's uncommitted changes.") var fromWorktree: String?
        @Option(help: "The project the patch belongs to.") var project: String
        @Option(help: "The workstream (for example, the agent's name).") var workstream: String?
        @Option(help: "The phase id.") var phase: String?
        @Option(help: "The execution request's ULID.") var request: String?
        @Option(help: "The commit message to land it with.") var message: String?
        @Option(help: "Who wrote it, as 'Name <email>': the author of the landed commit (Sluice commits it).")
        var author: String?
        @Option(
            help: """
                The commit the diff was made on (default with --from-worktree: that worktree's HEAD, when this \
                repository has it); a diff that no longer applies is merged from there.
                """)
        var base: String?
        @Flag(help: "Leave a valid patch validated instead of queueing it.") var hold = false
        @Option(
            help: """
                How soon `sluice run` takes it: low, normal, high or urgent; the highest first, then the oldest \
                (change it later with `patch promote`).
                """)
        var priority: String = "normal"
        @Option(
            help: """
                The task of the queue this patch finishes: stored only while the claim of --epoch by --worker \
                stands, and the task is done with it in the same unit (a stale epoch is refused: exit 3).
                """)
        var task: String?
        @Option(help: "The epoch of the task's claim (with --task).") var epoch: Int64?
        @Option(help: "The worker holding the task's claim (with --task).") var worker: String?

        func validate() throws {
            guard (file == nil) != (fromWorktree == nil) else {
                throw ValidationError("give a diff FILE (or - for standard input), or --from-worktree PATH")
            }
            guard (task == nil && epoch == nil && worker == nil) || (task != nil && epoch != nil && worker != nil)
            else {
                throw ValidationError("--task, --epoch and --worker go together")
            }
        }

        func run() async throws {
            let request: ExecutionRequestID? = try Parse.optionalID(request)
            let priority: PatchPriority = try Parse.enumeration(priority, option: "--priority")
            let pipeline = try await global.pipeline()
            // The target branch's sluice.yml first: it sets how much of the diff may be read, and when it
            // cannot be read, nothing is.
            let configuration = try await pipeline.configuration()
            let bytes: [UInt8]
            var base = self.base
            if let fromWorktree {
                let worktree = try await PatchCommand.diff(ofWorktree: fromWorktree)
                bytes = worktree.bytes
                if base == nil, try await pipeline.git.commit(of: worktree.head) != nil { base = worktree.head }
            } else if let file {
                bytes = Array(
                    try Parse.contents(of: file, option: "the diff", limit: configuration.0.policy.maxPatchBytes))
            } else {
                throw ValidationError("give a diff FILE (or - for standard input), or --from-worktree PATH")
            }
            try Pipeline.checkSize(bytes.count, configuration.0)
            if let task, let epoch, let worker {
                let id: TaskID = try Parse.id(task)
                let attempt = TaskAttempt(
                    taskID: id, epoch: epoch, workerID: try Parse.id(worker),
                    attempt: try await pipeline.engine.tasks.get(id).attempts)
                let (entry, done) = try await pipeline.submit(
                    bytes,
                    .init(
                        project: project, workstream: workstream, phase: phase, request: request, message: message,
                        hold: hold, base: base, author: author, priority: priority), for: attempt)
                try Output(global).record(
                    entry, "submitted patch \(entry.ledgerID) for task \(done.taskID): \(entry.verdict)")
                if entry.state == .quarantined { throw reportFailure() }
                return
            }
            let entries = try await pipeline.submitAll(
                bytes,
                .init(
                    project: project, workstream: workstream, phase: phase, request: request, message: message,
                    hold: hold, base: base, author: author, priority: priority), configuration: configuration)
            let output = Output(global)
            for entry in entries {
                try output.record(entry, "submitted patch \(entry.ledgerID): \(entry.verdict)")
            }
            if entries.contains(where: { $0.state == .quarantined }) { throw reportFailure() }
        }
    }

    /// The uncommitted changes of a worktree, untracked files included, through a temporary index.
    /// …and the commit they are made on (the worktree's HEAD).
    static func diff(ofWorktree path: String) async throws -> (bytes: [UInt8], head: String) {
        guard let top = GlobalOptions.repositoryRoot(containing: path) else {
            throw SluiceError.invalidInput("--from-worktree: \(path) is not inside a git worktree")
        }
        let git = Git(repository: top)
        let output = try await git.withTemporaryIndex(at: "HEAD") { environment in
            try await git.checked(["add", "-A"], environment: environment)
            return try await git.run(["diff", "--cached", "--binary", "HEAD"], environment: environment)
        }
        guard output.succeeded else {
            throw SluiceError.invalidInput("--from-worktree: git diff failed: \(output.stderr)")
        }
        guard !output.stdout.isEmpty else { throw SluiceError.invalidInput("--from-worktree: \(path) has no changes") }
        return (output.stdout, try await git.checked(["rev-parse", "--verify", "HEAD^{commit}"]))
    }

    /// `sluice patch revert`: the reverse of a committed patch, as a new patch.
    struct Revert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Undo a committed patch with a new patch (its reverse diff), gated like any other.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The committed patch's ledger id or patch id.") var id: String
        @Option(help: "The commit message of the revert.") var message: String?

        func run() async throws {
            let pipeline = try await global.pipeline()
            let entry = try await pipeline.revert(try Parse.id(id), message: message)
            try Output(global).record(
                entry,
                "submitted revert \(entry.ledgerID) of patch \(entry.relations.rollbackOfPatchID?.description ?? id): "
                    + entry.verdict)
            // Like `patch submit`: a revert that validation rejects exits 1.
            if entry.state == .quarantined { throw reportFailure() }
        }
    }
}
