import Foundation
import SluiceCore
import SluiceStore

/// Flake verdicts (`flaky.reruns` above 0): before a failed gate blames a patch, the gate is run again
/// with the same tree; a pass means the failure was flaky. When every rerun fails too, the gate runs on
/// the target branch without the patch: failing there as well, the branch is red and no patch is blamed.
extension Pipeline {
    /// What a failed gate came to.
    struct FailureJudgement {
        /// The last run with the patch: the passing rerun when the failure was flaky.
        var record: TestGateRecord
        /// The time of the reruns and of the branch's check.
        var seconds: Double
        /// Gate runs added: reruns, and the branch's check.
        var runs: Int
        /// The tests (or the gate, when it has no results) that failed, then passed on a rerun.
        var flakyTests: [String]?
        /// Why the target branch is red: the gate fails on it without the patch too.
        var red: String?
        /// Why the patch is to blame, with every run on record.
        var blame: String
    }

    /// What a failed gate run was on: the tree (applied on `commit`, or `commit`'s own when nil).
    struct GatedTree {
        var commit: String
        var tree: String? = nil
    }

    /// Reruns the gate `index` of the configuration, which `failed` for `entry` on `tested` (applied
    /// on `base`), up to `flaky.reruns` times. Each rerun starts from scratch: a workspace made anew
    /// at the tested tree, an empty cache, and the gates before it run again first; nothing the failed
    /// run left (files, the cache) can make it pass. When no rerun passes, the same gates run on
    /// `base` alone, from scratch too, unless `greenOnBase` says they passed there already; a pass is
    /// added to it. With no reruns configured, the failure is the patch's, as it always was.
    func judge(
        failed: TestGateRecord, index: Int, for entry: PatchLedgerEntry, tested: GatedTree, base: String,
        config: SluiceConfig, bubblewrap: String?, mustRun: [String], metadata: [String: JSONValue] = [:],
        greenOnBase: inout Set<String>, emit: (PipelineEvent) -> Void
    ) async throws -> FailureJudgement {
        let decided = failed.decision?.reason ?? failed.state.rawValue
        var judgement = FailureJudgement(record: failed, seconds: 0, runs: 0, blame: decided)
        guard failed.state == .failed, config.flaky.reruns > 0, config.gates.indices.contains(index) else {
            return judgement
        }
        let gate = config.gates[index]
        emit(
            PipelineEvent(
                step: "gate", ledgerID: entry.ledgerID, outcome: "failed",
                message: "\(gate.name): \(decided); gating the same tree again before blaming the patch"))
        var failing = Set(Self.failingTests(failed))
        var runs = [failed.gateID.description]
        for rerun in 1...config.flaky.reruns {
            let (record, seconds) = try await fromScratch(
                through: index, on: tested, for: entry, config: config, bubblewrap: bubblewrap, mustRun: mustRun,
                metadata: metadata.merging(["check": .string("rerun \(rerun)")]) { _, new in new },
                last: [
                    "rerun_of": .string(failed.gateID.description),
                    "failed_tests": .array(failing.sorted().map(JSONValue.string)),
                ])
            judgement.record = record
            judgement.seconds += seconds
            judgement.runs += 1
            runs.append(record.gateID.description)
            guard !(record.state == .passed && record.name == gate.name) else {
                let flaky = Self.passedTests(record, of: failing)
                judgement.flakyTests = flaky
                emit(
                    PipelineEvent(
                        step: "gate", ledgerID: entry.ledgerID, outcome: "flaky",
                        message: "\(gate.name) passed on rerun \(rerun) of the same tree; flaky: "
                            + Self.list(flaky), seconds: seconds))
                for quarantine in try await engine.quarantineFlaky(flaky, of: gate, settings: config.flaky) {
                    emit(
                        PipelineEvent(
                            step: "gate", ledgerID: entry.ledgerID, outcome: "quarantined",
                            message: "\(quarantine.test) of gate \(gate.name) no longer decides it: "
                                + quarantine.reason))
                }
                return judgement
            }
            emit(
                PipelineEvent(
                    step: "gate", ledgerID: entry.ledgerID, outcome: record.state.rawValue,
                    message: "\(record.name) rerun \(rerun): \(record.decision?.reason ?? "")", seconds: seconds))
            if record.name == gate.name { failing.formUnion(Self.failingTests(record)) }
        }
        // Every rerun failed: is it the patch, or does the branch fail without it?
        let again = config.flaky.reruns == 1 ? "its rerun" : "all \(config.flaky.reruns) reruns"
        guard !greenOnBase.contains(gate.name) else {
            judgement.blame =
                "\(decided); failed again on \(again), and passed on \(config.targetBranch) at \(base.prefix(12)) "
                + "without the patch earlier in this batch (gate runs \(runs.joined(separator: ", ")))"
            return judgement
        }
        let (check, seconds) = try await fromScratch(
            through: index, on: GatedTree(commit: base), for: entry, config: config, bubblewrap: bubblewrap,
            mustRun: [],
            metadata: metadata.merging(["check": .string("base"), "base_commit": .string(base)]) { _, new in new })
        judgement.seconds += seconds
        judgement.runs += 1
        runs.append(check.gateID.description)
        let tried = "gate runs \(runs.joined(separator: ", "))"
        switch check.state {
        case .failed:
            judgement.red =
                "\(config.targetBranch) at \(base.prefix(12)) fails gate \(check.name) without the patch too: "
                + "\(check.decision?.reason ?? "failed") (\(tried))"
        case .passed:
            greenOnBase.insert(gate.name)
            judgement.blame =
                "\(decided); failed again on \(again), and passes on \(config.targetBranch) at \(base.prefix(12)) "
                + "without the patch (\(tried))"
        default:
            judgement.blame =
                "\(decided); failed again on \(again), and on \(config.targetBranch) without the patch gate "
                + "\(check.name) ended \(check.state.rawValue): \(check.decision?.reason ?? "") (\(tried))"
        }
        emit(
            PipelineEvent(
                step: "gate", ledgerID: entry.ledgerID, outcome: check.state == .failed ? "red" : check.state.rawValue,
                message: "\(check.name) on \(config.targetBranch) at \(base.prefix(12)) without the patch",
                seconds: seconds))
        return judgement
    }

    /// Runs the configured gates up to `index` on `tested` from scratch (a workspace made anew, an
    /// empty cache), stopping at the first that does not pass; returns the last run and the time of
    /// all. The gate `index` gets `mustRun` and `last` in its metadata.
    private func fromScratch(
        through index: Int, on tested: GatedTree, for entry: PatchLedgerEntry, config: SluiceConfig,
        bubblewrap: String?, mustRun: [String], metadata: [String: JSONValue], last: [String: JSONValue] = [:]
    ) async throws -> (TestGateRecord, Double) {
        let workspace = try await recreateWorkspace(at: tested.commit)
        if let tree = tested.tree { try await git.checked(["read-tree", "--reset", "-u", tree], in: workspace) }
        return try await withEmptyCache { cache in
            var seconds = 0.0
            var record: TestGateRecord?
            for (position, gate) in config.gates.prefix(index + 1).enumerated() {
                let (run, took) = try await GateRunner(
                    engine: engine, runner: processes, inherited: inheritedEnvironment()
                ).run(
                    gate, for: entry, in: workspace, logDirectory: path("logs", entry.ledgerID.description),
                    config: config, sandbox: sandbox(for: gate, workspace: workspace, bubblewrap: bubblewrap),
                    cache: cache, mustRun: position == index ? mustRun : [],
                    metadata: position == index ? metadata.merging(last) { _, new in new } : metadata)
                seconds += took
                record = run
                guard run.state == .passed else { break }
            }
            guard let record else { throw SluiceError(code: .blocked, message: "no gate to run again") }
            return (record, seconds)
        }
    }

    /// Of `names` (tests that failed), those `record` ran and passed; a gate's own name (a gate without
    /// results) when it passed.
    static func passedTests(_ record: TestGateRecord, of names: Set<String>) -> [String] {
        guard record.state == .passed else { return [] }
        let passed = Set((record.results?.testCases ?? []).filter { $0.status == .passed }.map(\.qualifiedName))
        return names.filter { passed.contains($0) || ($0 == record.name && record.results?.testCases.isEmpty != false) }
            .sorted()
    }

    /// A target branch that failed its own gate at `head`.
    struct RedBranch {
        var head: String
        /// Whether this run has checked the branch at `head` (else it does before the next patch).
        var checked: Bool
        var reason: String
        /// Urgent patches tried on the red branch at `head` that did not turn it green: not tried again there.
        var heldBack: Set<LedgerID> = []
    }

    /// The target branch as the last check of it left it (a run stopped on it, or a failure's check
    /// found it red): red when that check failed; the head it checked is checked again before the
    /// next patch goes.
    func redBranch() async throws -> RedBranch? {
        guard let check = try await engine.lastBranchCheck(), check.state == .failed,
            case .string(let head)? = check.metadata["base_commit"]
        else { return nil }
        return RedBranch(head: head, checked: false, reason: Self.redReason(check, head: head, config: nil))
    }

    /// Runs every gate on the target branch at `head` alone, in the run's workspace, as runs of
    /// `entry` (the patch that waits on it); nil when all pass, else why the branch is red.
    func checkBranch(
        _ head: String, config: SluiceConfig, for entry: PatchLedgerEntry,
        bubblewrap available: Result<String, SandboxUnavailable>, _ summary: inout PipelineSummary,
        emit: (PipelineEvent) -> Void
    ) async throws -> String? {
        guard !config.gates.isEmpty else { return nil }
        let bubblewrap = try sealing(config, available: available) { _ in }
        let workspace = try await recreateWorkspace(at: head)
        summary.gateRuns += 1
        let (record, seconds) = try await withEmptyCache { cache in
            var seconds = 0.0
            for gate in config.gates {
                let (record, took) = try await GateRunner(
                    engine: engine, runner: processes, inherited: inheritedEnvironment()
                ).run(
                    gate, for: entry, in: workspace, logDirectory: path("logs", entry.ledgerID.description),
                    config: config, sandbox: sandbox(for: gate, workspace: workspace, bubblewrap: bubblewrap),
                    cache: cache, metadata: ["check": .string("base"), "base_commit": .string(head)])
                seconds += took
                guard record.state == .passed else { return (Optional(record), seconds) }
            }
            return (nil, seconds)
        }
        summary.gateSeconds += seconds
        // Anything but a pass (an error too: out of time, killed) leaves the branch red.
        if let record {
            let reason = Self.redReason(record, head: head, config: config)
            emit(
                PipelineEvent(
                    step: "branch", ledgerID: entry.ledgerID, outcome: "red", message: reason, seconds: seconds))
            return reason
        }
        emit(
            PipelineEvent(
                step: "branch", ledgerID: entry.ledgerID, outcome: "green",
                message: "\(config.targetBranch) at \(head.prefix(12)) passes its gates again; the queue goes on"))
        return nil
    }

    /// The attempts a patch is blamed for: its application attempts less those that went back to the
    /// queue through no fault of its own: on a red target branch (`target_red`), or stacked above a
    /// batch's culprit (`batch_culprit`).
    func blamedAttempts(_ entry: PatchLedgerEntry) async throws -> Int {
        guard entry.apply.attempts > 1 || Self.unblamedCodes.contains(entry.apply.lastErrorCode ?? "") else {
            return entry.apply.attempts
        }
        let unblamed = try await engine.events(entityID: entry.ledgerID.description).filter { event in
            event.toState == PatchState.applyFailed.rawValue
                && Self.unblamedCodes.contains { event.reason?.hasPrefix("\($0):") == true }
        }.count
        return max(entry.apply.attempts - unblamed, 0)
    }

    /// The error codes of attempts that were not the patch's fault.
    static let unblamedCodes: Set<String> = ["target_red", "batch_culprit"]

    /// Runs `body` with the gates' cache empty at its usual path (``gateCachePath``): the kept one is
    /// moved aside first and put back after, whatever happens, so what an earlier gate left there
    /// cannot act, and a gate cannot tell a rerun or a check from a first run by its cache's path.
    func withEmptyCache<T>(_ body: (String) async throws -> T) async throws -> T {
        let files = FileManager.default
        let cache = gateCachePath
        restoreKeptCache()
        if files.fileExists(atPath: cache) { try files.moveItem(atPath: cache, toPath: keptCachePath) }
        defer { restoreKeptCache() }
        try files.createDirectory(atPath: cache, withIntermediateDirectories: true)
        return try await body(cache)
    }

    /// Puts back the cache ``withEmptyCache(_:)`` moved aside (a run killed inside it left it there).
    func restoreKeptCache() {
        let files = FileManager.default
        guard files.fileExists(atPath: keptCachePath) else { return }
        try? files.removeItem(atPath: gateCachePath)
        try? files.moveItem(atPath: keptCachePath, toPath: gateCachePath)
    }

    var keptCachePath: String { gateCachePath + ".kept" }

    static func redReason(_ check: TestGateRecord, head: String, config: SluiceConfig?) -> String {
        let failing = failingTests(check)
        return
            "\(config?.targetBranch ?? "the target branch") at \(head.prefix(12)) fails gate \(check.name) on its own "
            + "(gate run \(check.gateID)): \(check.decision?.reason ?? check.state.rawValue); failing: \(list(failing))"
    }

    /// The tests that failed in a gate run; the gate's own name when it has no results (or none failed).
    static func failingTests(_ record: TestGateRecord) -> [String] {
        guard record.state != .passed else { return [] }
        let failing = record.results?.failedTestNames ?? []
        return failing.isEmpty ? [record.name] : failing
    }

    static func list(_ names: [String]) -> String {
        guard !names.isEmpty else { return "(none named)" }
        let shown = names.prefix(5).joined(separator: ", ")
        return names.count > 5 ? "\(shown) and \(names.count - 5) more" : shown
    }
}
