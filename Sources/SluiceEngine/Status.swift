import SluiceCore
import SluiceStore

/// The whole picture at one moment: tasks, patches and workers by state, and the spend so far.
public struct StatusSnapshot: Sendable, Hashable, Encodable {
    public var tasks: [String: Int]
    public var patches: [String: Int]
    public var workers: [String: Int]
    /// Totals per currency, as exact decimal text.
    public var spend: [String: String]
    /// Cost records without an amount (no price covered their usage): spend not in `spend`, unknown
    /// rather than zero.
    public var unpriced: Int
    /// Set when the last check of the target branch without a patch failed: which gate, at which commit.
    public var redBranch: String?
    /// Tests kept out of their gates' verdicts now (`sluice tests quarantined`).
    public var quarantinedTests = 0

    enum CodingKeys: String, CodingKey {
        case tasks, patches, workers, spend, unpriced
        case redBranch = "red_branch"
        case quarantinedTests = "quarantined_tests"
    }

    /// One line: `tasks 2 running, 5 done, 1 failed · patches 1 queued, 4 landed · spend 0.31 USD`
    /// (`… and 2 unpriced` when records have no amount).
    public var line: String {
        func part(_ counts: [String: Int], _ order: [String], renaming: [String: String] = [:]) -> String {
            let known = order.compactMap { state in
                counts[state].flatMap { $0 > 0 ? "\($0) \(renaming[state] ?? state)" : nil }
            }
            return known.isEmpty ? "none" : known.joined(separator: ", ")
        }
        let money = spend.keys.sorted().map { "\(spend[$0] ?? "0") \($0)" }.joined(separator: ", ")
        return "tasks " + part(tasks, ["queued", "running", "done", "failed", "cancelled"]) + " · patches "
            + part(
                patches, PatchState.allCases.map(\.rawValue),
                renaming: ["committed": "landed", "validated": "held"])
            + " · workers " + part(workers, ["busy", "idle", "paused", "crashed", "stopped"]) + " · spend "
            + (money.isEmpty ? "0" : money) + (unpriced > 0 ? " and \(unpriced) unpriced" : "")
            + (quarantinedTests > 0 ? " · \(quarantinedTests) quarantined tests" : "")
            + (redBranch.map { " · red: \($0)" } ?? "")
    }
}

extension Engine {
    /// Counts the tasks, patches and workers by state, and totals the costs, in one read.
    public func status() async throws -> StatusSnapshot {
        var snapshot = try await context.storage.read { reader in
            let counts = try reader.stateCounts()
            let quarantined = try reader.testQuarantines(gate: nil).filter(\.quarantined).count
            var spend: [String: String] = [:]
            for total in try reader.costTotals(CostFilter()) { spend[total.currency.code] = total.amount.description }
            let unpriced = try reader.costReport(by: .resourceType, CostReportRange()).reduce(0) { $0 + $1.unpriced }
            var snapshot = StatusSnapshot(
                tasks: counts.tasks, patches: counts.patches, workers: counts.workers, spend: spend, unpriced: unpriced)
            snapshot.quarantinedTests = quarantined
            return snapshot
        }
        if let check = try await lastBranchCheck(), check.state == .failed,
            case .string(let head)? = check.metadata["base_commit"]
        {
            snapshot.redBranch = "the target branch at \(head.prefix(12)) fails gate \(check.name) on its own"
        }
        return snapshot
    }

    /// The newest gate run on the target branch without a patch (metadata `check: base`, a flake
    /// verdict's check) that passed or failed, among the newest 100 such checks: one still running, or
    /// ended in error (killed, out of time), says nothing of the branch. Gate runs of patches, however
    /// many came after, do not hide it.
    public func lastBranchCheck() async throws -> TestGateRecord? {
        try await gates.list(GateFilter(check: "base", limit: 100)).first {
            $0.state == .passed || $0.state == .failed
        }
    }
}
