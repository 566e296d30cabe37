import Foundation
import SluiceCore
import SluiceStore

/// Speculative gates (`merge_queue.max_parallel` above 1): the first gate runs of several stacked
/// batches at once, each in a workspace of its own, and the workspaces they run in.
extension Pipeline {
    /// What the first gate runs of a batch's top, gated speculatively, came to: their records in the
    /// configured order (up to the first that did not pass), and whether all passed and left the tree
    /// as they found it.
    struct SpeculativeRun: Sendable {
        var records: [TestGateRecord]
        var seconds: Double
        var passed: Bool
        /// Why it did not pass.
        var reason = ""
    }

    /// Starts the gates at the top of every segment at once: the first in the run's workspace, each
    /// other in a workspace of its own, with a cache of its own.
    func startSpeculativeRuns(
        _ segments: [[StackedPatch]], on head: String, config: SluiceConfig, bubblewrap: String?
    ) async throws -> [Task<SpeculativeRun, any Error>] {
        var workspaces: [String] = []
        for (index, segment) in segments.enumerated() {
            guard let top = segment.last else { continue }
            if index == 0 {
                try await git.checked(["clean", "-ffdxq"], in: workspacePath)
                try await git.checked(["checkout", "--quiet", "--force", "--detach", top.commit], in: workspacePath)
                try await git.checked(["clean", "-ffdxq"], in: workspacePath)
                workspaces.append(workspacePath)
            } else {
                workspaces.append(try await makeSlot(index, at: top.commit))
            }
        }
        var tasks: [Task<SpeculativeRun, any Error>] = []
        for (index, segment) in segments.enumerated() {
            let workspace = workspaces[index]
            let cache = index == 0 ? gateCachePath : slotCachePath(index)
            tasks.append(
                Task { [self] in
                    try await firstRuns(
                        of: segment, in: workspace, cache: cache, on: head, config: config, bubblewrap: bubblewrap)
                })
        }
        return tasks
    }

    /// Stops the speculative runs of `segments` (what they test stands on a batch that failed) and
    /// waits for them to end.
    func stop(
        _ range: Range<Int>, _ tasks: [Task<SpeculativeRun, any Error>], of segments: [[StackedPatch]],
        _ stopped: inout Range<Int>, _ summary: inout PipelineSummary, emit: (PipelineEvent) -> Void
    ) async throws {
        // Those stopped already are not stopped (nor told) twice.
        let upper = stopped.isEmpty ? range.upperBound : min(range.upperBound, stopped.lowerBound)
        guard range.lowerBound < upper else { return }
        let fresh = range.lowerBound..<upper
        for index in fresh { tasks[index].cancel() }
        for index in fresh {
            let run = try? await tasks[index].value
            summary.gateSeconds += run?.seconds ?? 0
            if let top = segments[index].last {
                let ended = run?.records.last.map { $0.state == .error ? "stopped" : "ended, \($0.state.rawValue)" }
                emit(
                    PipelineEvent(
                        step: "gate", ledgerID: top.id, outcome: "stopped",
                        message: "its speculative gate run no longer matters (\(ended ?? "stopped")): the batch "
                            + "below it failed; gated anew if it is reached"))
            }
        }
        stopped = fresh.lowerBound..<max(stopped.upperBound, range.upperBound)
    }

    /// The configured gates at the top of `segment` in `workspace`, in order, up to the first that does
    /// not pass; then whether they left the tested tree as it was.
    func firstRuns(
        of segment: [StackedPatch], in workspace: String, cache: String, on head: String,
        config: SluiceConfig, bubblewrap: String?
    ) async throws -> SpeculativeRun {
        guard let top = segment.last else { return SpeculativeRun(records: [], seconds: 0, passed: false) }
        var run = SpeculativeRun(records: [], seconds: 0, passed: false)
        let metadata: [String: JSONValue] = [
            "batch": .array(segment.map { JSONValue.string($0.id.description) }),
            "batch_size": .number(Decimal(segment.count)), "speculative": .bool(true),
            // Its own log (`<gate>.speculative.log`): a run of the batch alone after it keeps its own.
            "check": .string("speculative"),
        ]
        for gate in config.gates {
            let mustRun = try await mustRun(gate.name, on: head, for: top.entry)
            let (record, seconds) = try await GateRunner(
                engine: engine, runner: processes, inherited: inheritedEnvironment()
            ).run(
                gate, for: top.entry, in: workspace, logDirectory: path("logs", top.id.description), config: config,
                sandbox: sandbox(for: gate, workspace: workspace, cache: cache, bubblewrap: bubblewrap), cache: cache,
                mustRun: mustRun, metadata: metadata)
            run.records.append(record)
            run.seconds += seconds
            guard record.state == .passed else {
                run.reason = "gate \(gate.name) \(record.state.rawValue): \(record.decision?.reason ?? "")"
                return run
            }
        }
        let untouched = try await git.run(
            ["diff", "--quiet", "--no-ext-diff", "--no-textconv", top.tree], in: workspace)
        // A tree the gates changed is gated again in the run's own workspace, where that is caught.
        run.passed = untouched.succeeded
        if !untouched.succeeded {
            run.records = []
            run.reason = "the gates changed tracked files they tested"
        }
        return run
    }

    /// A workspace of its own for the speculative gates of the batch at `index` (above the first), at
    /// `commit`: kept from turn to turn, and cleaned and checked out as the run's own workspace is for
    /// a batch's first run; made anew when that fails (a killed run left it half made).
    func makeSlot(_ index: Int, at commit: String) async throws -> String {
        let slot = (slotsDirectory as NSString).appendingPathComponent("slot-\(index)")
        let link = (slot as NSString).appendingPathComponent(".git")
        // The `.git` git wrote, kept where no gate can reach it: a slot whose link a gate rewrote (and a
        // killed run could not put back) is never given to git, which would run what it points at.
        let kept = slot + ".gitlink"
        let files = FileManager.default
        if let written = files.contents(atPath: kept), files.contents(atPath: link) == written {
            let cleaned = try await git.run(["clean", "-ffdxq"], in: slot)
            let checkedOut = try await git.run(["checkout", "--quiet", "--force", "--detach", commit], in: slot)
            let again = try await git.run(["clean", "-ffdxq"], in: slot)
            if cleaned.succeeded, checkedOut.succeeded, again.succeeded { return slot }
        }
        try await removeSlot(slot)
        try files.createDirectory(atPath: slotsDirectory, withIntermediateDirectories: true)
        try await WorktreeLock.holding(for: repository) {
            try await git.checked(["worktree", "add", "--detach", "--quiet", slot, commit])
        }
        guard let written = files.contents(atPath: link) else {
            throw SluiceError(code: .storage, message: "git made the worktree \(slot) without a .git file")
        }
        try written.write(to: URL(fileURLWithPath: kept))
        return slot
    }

    /// Removes the speculative workspaces (a run removes them as it ends; a killed run's, the next
    /// one's recovery). Never while speculative gates run: the run's own workspace is made anew
    /// between them, but these are not.
    func removeSlots() async {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: slotsDirectory)) ?? []
        where !name.hasSuffix(".gitlink") {
            try? await removeSlot((slotsDirectory as NSString).appendingPathComponent(name))
        }
        try? FileManager.default.removeItem(atPath: slotsDirectory)
    }

    private func removeSlot(_ slot: String) async throws {
        _ = try await WorktreeLock.holding(for: repository) {
            _ = try await git.run(["worktree", "unlock", slot])
            return try await git.run(["worktree", "remove", "--force", slot])
        }
        try? FileManager.default.removeItem(atPath: slot)
        try? FileManager.default.removeItem(atPath: slot + ".gitlink")
        _ = try await WorktreeLock.holding(for: repository) { try await git.run(["worktree", "prune"]) }
    }

    /// Where the speculative gates' workspaces are: beside the run's, outside its folder (which is
    /// made anew while they run).
    var slotsDirectory: String { workspacesDirectory + "-speculative" }

    /// The gates' kept cache of the speculative workspace `index`: one per workspace, so that gates
    /// running at once never share one.
    func slotCachePath(_ index: Int) -> String { gateCachePath + "-\(index)" }
}
