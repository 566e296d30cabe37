import SluiceCore
import SluiceStore

/// Copies a whole ledger from one database into another, ids and event sequence numbers kept, and
/// verifies the copy (`sluice db copy`): how a team moves from the embedded SQLite file to a shared
/// PostgreSQL server, or back.
///
/// The source is read in one read unit (one snapshot); the destination takes everything in one
/// write unit that also reads the copy back and rolls back unless it equals the source, so a copy
/// that fails or differs leaves nothing. The ledger is held in memory on the way: fine for the
/// ledgers Sluice keeps (thousands of patches, their diffs capped at submission).
package struct LedgerCopier: Sendable {
    package let source: any Storage
    package let destination: any Storage
    /// Tells a lapsed gate hold from one a run still has.
    package let clock: any WallClock

    package init(from source: any Storage, to destination: any Storage, clock: any WallClock = SystemClock()) {
        self.source = source
        self.destination = destination
        self.clock = clock
    }

    /// What was copied and how it was checked.
    package struct Report: Sendable {
        /// Records and events copied, per kind.
        package var counts: LedgerSnapshot.Counts
        /// The ``LedgerSnapshot/digest()`` of the source, which the copy read back from the
        /// destination after the commit gives too.
        package var digest: String
        /// True when the destination, read back after the commit, holds the same ledger as the source.
        package var verified: Bool
    }

    /// Copies and verifies.
    ///
    /// - Throws: ``SluiceError`` (`invalidInput`) when the source and the destination are one
    ///   database, the destination holds any record or event, or a run is gating a patch of the
    ///   source (nothing is written); (`storage`)
    ///   when the copy does not read back as the source (inside the unit: nothing is written).
    package func copy() async throws -> Report {
        let sourceIdentity = try await source.read { try Self.identifying($0).databaseIdentity() }
        let destinationIdentity = try await destination.read { try Self.identifying($0).databaseIdentity() }
        guard sourceIdentity != destinationIdentity else {
            throw SluiceError.invalidInput("the source and the destination are the same database; nothing was copied")
        }
        // Checked here for a clear refusal before the source is read, and again inside the import.
        guard try await destination.read({ try Self.identifying($0).holdsNothing() }) else {
            throw SluiceError.invalidInput(
                "the destination already holds records or events; a ledger is copied only into an empty database")
        }
        let ledger = try await source.readSettled { tx in
            // A hold for a gate run is a run's own bookkeeping, not part of the ledger: copied without
            // it, the budgets' held spend would never be released.
            if let hold = try tx.gateHolds().first {
                // Lapsed, its run is gone; the next `sluice run` releases it in its recovery.
                throw SluiceError.invalidInput(
                    hold.expiresAt <= clock.now()
                        ? "a run that stopped while gating patch \(hold.ledgerID) left a hold for its gates on the "
                            + "budgets; the next `sluice run` releases it as it starts, and so does the next task "
                            + "claim (`sluice task claim`, a worker's); then copy the ledger"
                        : "a run is gating patch \(hold.ledgerID) and holds what its gates may cost on the budgets "
                            + "(until \(hold.expiresAt) at the latest); copy the ledger once no run is landing, or "
                            + "after `sluice run` has released a hold that a stopped run left")
            }
            return try LedgerSnapshot.read(tx)
        }
        try await destination.write { tx in
            guard let importer = tx as? any LedgerImporting else {
                throw SluiceError(code: .storage, message: "the destination's storage cannot take a copied ledger")
            }
            try importer.importLedger(ledger)
            if let difference = ledger.firstDifference(from: try LedgerSnapshot.read(importer)) {
                throw SluiceError(
                    code: .storage,
                    message: "the copy does not read back as the source (\(difference)); nothing was written")
            }
        }
        let copied = try await destination.read { try LedgerSnapshot.read($0) }
        let digest = try ledger.digest()
        if let difference = ledger.firstDifference(from: copied) {
            throw SluiceError(
                code: .storage, message: "the copy was written but does not read back as the source (\(difference))")
        }
        guard try copied.digest() == digest else {
            throw SluiceError(code: .storage, message: "the copy was written but its digest differs from the source's")
        }
        return Report(counts: ledger.counts, digest: digest, verified: true)
    }

    private static func identifying(_ reader: any StorageReader) throws -> any LedgerIdentifying {
        guard let identifying = reader as? any LedgerIdentifying else {
            throw SluiceError(code: .storage, message: "this storage cannot take part in a copy of a ledger")
        }
        return identifying
    }
}
