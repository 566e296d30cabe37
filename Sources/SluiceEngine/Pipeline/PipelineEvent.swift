import Foundation
import SluiceCore

/// One step of the landing pipeline, as `sluice run` prints it (a line, or a JSON object).
public struct PipelineEvent: Sendable, Encodable {
    public var step: String
    public var ledgerID: String?
    public var outcome: String
    public var message: String
    public var seconds: Double?

    public init(step: String, ledgerID: LedgerID?, outcome: String, message: String, seconds: Double? = nil) {
        self.step = step
        self.ledgerID = ledgerID?.description
        self.outcome = outcome
        self.message = message
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case step
        case ledgerID = "ledger_id"
        case outcome, message, seconds
    }

    /// `step  ledger  outcome  message (1.23 s)`.
    public var line: String {
        let id = ledgerID.map { String($0.suffix(8)) } ?? "-"
        let time = seconds.map { " (\(String(format: "%.2f", $0)) s)" } ?? ""
        return "\(step.padding(toLength: 10, withPad: " ", startingAt: 0)) \(id)  \(outcome): \(message)\(time)"
    }
}

/// What one `sluice run` did.
public struct PipelineSummary: Sendable, Encodable {
    public var landed: [String] = []
    public var quarantined: [Item] = []
    public var rejected: [Item] = []
    public var requeued: Int = 0
    public var gateSeconds: Double = 0
    /// Gate runs: one per run of the configured gates on a patch, or on a batch's stack.
    public var gateRuns: Int = 0
    /// Why the run stopped before the next patch: a hard budget could not cover its gates.
    public var budgetStop: String?
    /// Why the run stopped before the next patch: the target branch fails its own gate, so no patch
    /// can be judged on it.
    public var redBranch: String?

    public struct Item: Sendable, Encodable {
        public var ledgerID: String
        public var reason: String

        enum CodingKeys: String, CodingKey {
            case ledgerID = "ledger_id"
            case reason
        }
    }

    public init() {}

    enum CodingKeys: String, CodingKey {
        case landed, quarantined, rejected, requeued
        case gateSeconds = "gate_seconds"
        case gateRuns = "gate_runs"
        case budgetStop = "budget_stop"
        case redBranch = "red_branch"
    }
}
