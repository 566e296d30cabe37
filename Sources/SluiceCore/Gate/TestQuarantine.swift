/// A test kept out of its gate's verdicts (`flaky.quarantine_after`, or `sluice tests quarantine`):
/// it still runs and is reported, but its failure does not fail the gate. Sluice quarantines a test
/// that flaked often enough and releases it once it passes enough runs in a row; a person may
/// quarantine or release any test, and only a person can quarantine a gate's required test or
/// release one a person quarantined.
public struct TestQuarantine: Sendable, Hashable, Codable {
    public var gate: String
    /// The test's qualified name (`classname.name`), as gate runs report it.
    public var test: String
    /// Out of the verdicts now; false once released (the record stays, with who released it).
    public var quarantined: Bool
    /// Sluice quarantined it (it flaked `quarantine_after` times), rather than a person.
    public var automatic: Bool
    /// Who quarantined it: a person's name, or `sluice`.
    public var quarantinedBy: String
    public var quarantinedAt: Timestamp
    public var reason: String
    /// Runs of the gate in a row, since it was quarantined, that ran the test and passed it.
    public var passesInARow: Int
    public var releasedBy: String?
    public var releasedAt: Timestamp?
    public var releaseReason: String?

    public init(
        gate: String, test: String, quarantined: Bool = true, automatic: Bool, quarantinedBy: String,
        quarantinedAt: Timestamp, reason: String, passesInARow: Int = 0, releasedBy: String? = nil,
        releasedAt: Timestamp? = nil, releaseReason: String? = nil
    ) {
        self.gate = gate
        self.test = test
        self.quarantined = quarantined
        self.automatic = automatic
        self.quarantinedBy = quarantinedBy
        self.quarantinedAt = quarantinedAt
        self.reason = reason
        self.passesInARow = passesInARow
        self.releasedBy = releasedBy
        self.releasedAt = releasedAt
        self.releaseReason = releaseReason
    }

    /// The name `--by` may not take: Sluice's own, for what it decides by itself.
    public static let automaticActor = "sluice"

    enum CodingKeys: String, CodingKey {
        case gate, test, quarantined, automatic, reason
        case quarantinedBy = "quarantined_by"
        case quarantinedAt = "quarantined_at"
        case passesInARow = "passes_in_a_row"
        case releasedBy = "released_by"
        case releasedAt = "released_at"
        case releaseReason = "release_reason"
    }

    /// The record's id in the event log (entity kind `gate`): `tests/<gate>/<test>`.
    public var entityID: String { "tests/\(gate)/\(test)" }

    /// After a gate run with `results`: passes in a row counted on (the test ran and passed) or
    /// from 0 again (it failed); nil when nothing changes (released, or the run did not run it).
    public func counting(_ results: GateResults) -> TestQuarantine? {
        let runs = results.testCases.filter { $0.matches(test) && $0.status != .skipped }
        guard quarantined, !runs.isEmpty else { return nil }
        var next = self
        next.passesInARow = runs.allSatisfy { $0.status == .passed } ? passesInARow + 1 : 0
        return next == self ? nil : next
    }

    /// Released by `who` at `now`, for `reason`.
    public func released(by who: String, at now: Timestamp, reason: String) -> TestQuarantine {
        var next = self
        next.quarantined = false
        next.releasedBy = who
        next.releasedAt = now
        next.releaseReason = reason
        return next
    }
}
