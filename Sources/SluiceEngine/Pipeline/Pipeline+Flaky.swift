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

    /// Reruns `gate`, which `failed` for `entry` in `workspace` (the tree applied on `base`), up to
    /// `flaky.reruns` times; when no rerun passes, runs it on `base` alone in the same workspace (which
    /// is left at `base`), unless `greenOnBase` says it passed there already; a pass is added to it.
    /// With no reruns configured, the failure is the patch's, as it always was.
    func judge(
        failed: TestGateRecord, of gate: GateConfig, for entry: PatchLedgerEntry, in workspace: String, base: String,
        config: SluiceConfig, bubblewrap: String?, mustRun: [String], metadata: [String: JSONValue] = [:],
        greenOnBase: inout Set<String>, emit: (PipelineEvent) -> Void
    ) async throws -> FailureJudgement {
        let decided = failed.decision?.reason ?? failed.state.rawValue
        var judgement = FailureJudgement(record: failed, seconds: 0, runs: 0, blame: decided)
        guard failed.state == .failed, config.flaky.reruns > 0 else { return judgement }
        emit(
            PipelineEvent(
                step: "gate", ledgerID: entry.ledgerID, outcome: "failed",
                message: "\(gate.name): \(decided); rerunning the same tree before blaming the patch"))
        let runner = GateRunner(engine: engine, runner: processes)
        let logs = path("logs", entry.ledgerID.description)
        let sealed = sandbox(for: gate, workspace: workspace, bubblewrap: bubblewrap)
        var failing = Set(Self.failingTests(failed))
        var runs = [failed.gateID.description]
        for rerun in 1...config.flaky.reruns {
            let extra = metadata.merging([
                "check": .string("rerun \(rerun)"), "rerun_of": .string(failed.gateID.description),
                "failed_tests": .array(failing.sorted().map(JSONValue.string)),
            ]) { _, new in new }
            let (record, seconds) = try await runner.run(
                gate, for: entry, in: workspace, logDirectory: logs, config: config, sandbox: sealed,
                cache: gateCachePath, mustRun: mustRun, metadata: extra)
            judgement.record = record
            judgement.seconds += seconds
            judgement.runs += 1
            runs.append(record.gateID.description)
            guard record.state != .passed else {
                let flaky = failing.subtracting(Self.failingTests(record)).sorted()
                judgement.flakyTests = flaky
                emit(
                    PipelineEvent(
                        step: "gate", ledgerID: entry.ledgerID, outcome: "flaky",
                        message: "\(gate.name) passed on rerun \(rerun) of the same tree; flaky: "
                            + Self.list(flaky), seconds: seconds))
                return judgement
            }
            emit(
                PipelineEvent(
                    step: "gate", ledgerID: entry.ledgerID, outcome: record.state.rawValue,
                    message: "\(gate.name) rerun \(rerun): \(record.decision?.reason ?? "")", seconds: seconds))
            guard record.state == .failed else { break }
            failing.formUnion(Self.failingTests(record))
        }
        // Every rerun failed: is it the patch, or does the branch fail without it?
        let again = config.flaky.reruns == 1 ? "its rerun" : "all \(config.flaky.reruns) reruns"
        guard !greenOnBase.contains(gate.name) else {
            judgement.blame =
                "\(decided); failed again on \(again), and passed on \(config.targetBranch) at \(base.prefix(12)) "
                + "without the patch earlier in this batch (gate runs \(runs.joined(separator: ", ")))"
            return judgement
        }
        try await git.checked(["checkout", "--quiet", "--force", "--detach", base], in: workspace)
        try await git.checked(["clean", "-ffdxq"], in: workspace)
        let (check, seconds) = try await runner.run(
            gate, for: entry, in: workspace, logDirectory: logs, config: config, sandbox: sealed, cache: gateCachePath,
            metadata: metadata.merging(["check": .string("base"), "base_commit": .string(base)]) { _, new in new })
        judgement.seconds += seconds
        judgement.runs += 1
        runs.append(check.gateID.description)
        let tried = "gate runs \(runs.joined(separator: ", "))"
        switch check.state {
        case .failed:
            judgement.red =
                "\(config.targetBranch) at \(base.prefix(12)) fails gate \(gate.name) without the patch too: "
                + "\(check.decision?.reason ?? "failed") (\(tried))"
        case .passed:
            greenOnBase.insert(gate.name)
            judgement.blame =
                "\(decided); failed again on \(again), and passes on \(config.targetBranch) at \(base.prefix(12)) "
                + "without the patch (\(tried))"
        default:
            judgement.blame =
                "\(decided); failed again on its reruns, and on \(config.targetBranch) without the patch the gate "
                + "ended \(check.state.rawValue): \(check.decision?.reason ?? "") (\(tried))"
        }
        emit(
            PipelineEvent(
                step: "gate", ledgerID: entry.ledgerID, outcome: check.state == .failed ? "red" : check.state.rawValue,
                message: "\(gate.name) on \(config.targetBranch) at \(base.prefix(12)) without the patch",
                seconds: seconds))
        return judgement
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
        guard let check = try await engine.lastBranchCheck(), check.state != .passed,
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
        for gate in config.gates {
            let (record, seconds) = try await GateRunner(engine: engine, runner: processes).run(
                gate, for: entry, in: workspace, logDirectory: path("logs", entry.ledgerID.description), config: config,
                sandbox: sandbox(for: gate, workspace: workspace, bubblewrap: bubblewrap), cache: gateCachePath,
                metadata: ["check": .string("base"), "base_commit": .string(head)])
            summary.gateSeconds += seconds
            guard record.state == .passed else {
                let reason = Self.redReason(record, head: head, config: config)
                emit(
                    PipelineEvent(
                        step: "branch", ledgerID: entry.ledgerID, outcome: "red", message: reason, seconds: seconds))
                return reason
            }
        }
        emit(
            PipelineEvent(
                step: "branch", ledgerID: entry.ledgerID, outcome: "green",
                message: "\(config.targetBranch) at \(head.prefix(12)) passes its gates again; the queue goes on"))
        return nil
    }

    static func redReason(_ check: TestGateRecord, head: String, config: SluiceConfig?) -> String {
        let failing = failingTests(check)
        return
            "\(config?.targetBranch ?? "the target branch") at \(head.prefix(12)) fails gate \(check.name) on its own "
            + "(gate run \(check.gateID)): \(check.decision?.reason ?? check.state.rawValue); failing: \(list(failing))"
    }

    /// The tests that failed in a gate run; the gate's own name when it has no results.
    static func failingTests(_ record: TestGateRecord) -> [String] {
        guard record.state != .passed else { return [] }
        guard let cases = record.results?.testCases, !cases.isEmpty else { return [record.name] }
        let failing = cases.filter { $0.status == .failed || $0.status == .error }.map(\.qualifiedName)
        return failing.isEmpty ? [record.name] : failing
    }

    static func list(_ names: [String]) -> String {
        guard !names.isEmpty else { return "(none named)" }
        let shown = names.prefix(5).joined(separator: ", ")
        return names.count > 5 ? "\(shown) and \(names.count - 5) more" : shown
    }
}
