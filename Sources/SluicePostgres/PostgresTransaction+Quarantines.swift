import SluiceCore
import SluiceStore

extension PostgresTransaction {
    static let quarantineColumns =
        "gate, test, quarantined, automatic, quarantined_by, quarantined_at, reason, passes_in_a_row, released_by, "
        + "released_at, release_reason"

    func testQuarantines(gate: String?) throws -> [TestQuarantine] {
        let (binds, terms) = Self.conditions([("gate", gate)])
        return try rows(
            "SELECT \(Self.quarantineColumns) FROM test_quarantines\(terms) ORDER BY gate, test", binds
        ) { row in
            TestQuarantine(
                gate: try row.string(), test: try row.string(), quarantined: try row.bool(), automatic: try row.bool(),
                quarantinedBy: try row.string(), quarantinedAt: try row.timestamp(), reason: try row.string(),
                passesInARow: try row.int(), releasedBy: try row.text(), releasedAt: try row.optionalTimestamp(),
                releaseReason: try row.text())
        }
    }

    func putTestQuarantine(_ quarantine: TestQuarantine, event: Event?) throws {
        var binds = Binds()
        binds.add(quarantine.gate)
        binds.add(quarantine.test)
        binds.add(quarantine.quarantined)
        binds.add(quarantine.automatic)
        binds.add(quarantine.quarantinedBy)
        binds.add(quarantine.quarantinedAt)
        binds.add(quarantine.reason)
        binds.add(quarantine.passesInARow)
        binds.add(quarantine.releasedBy)
        binds.add(quarantine.releasedAt)
        binds.add(quarantine.releaseReason)
        _ = try execute(
            """
            INSERT INTO test_quarantines (\(Self.quarantineColumns))
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (gate, test) DO UPDATE SET
                quarantined = excluded.quarantined, automatic = excluded.automatic,
                quarantined_by = excluded.quarantined_by, quarantined_at = excluded.quarantined_at,
                reason = excluded.reason, passes_in_a_row = excluded.passes_in_a_row,
                released_by = excluded.released_by, released_at = excluded.released_at,
                release_reason = excluded.release_reason
            """, binds)
        if let event { pendingEvents.append(event) }
    }
}
