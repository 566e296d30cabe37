import Foundation
import SluiceCore
import SluicePostgres
import SluiceStore
import SluiceTesting

let now = Timestamp(milliseconds: 1_767_225_600_000)

func event(_ kind: EntityKind, _ id: String, from: String?, to: String?, reason: String? = nil) -> Event {
    Event(entityKind: kind, entityID: id, fromState: from, toState: to, reason: reason, at: now, actor: "test")
}

@discardableResult
func makeWorker(_ storage: any Storage, at: Timestamp = now) async throws -> WorkerRecord {
    let worker = WorkerRecord(workerID: .make(), workerType: .executor, metadata: ["k": .string("v")], at: at)
    try await storage.insertWorker(worker, event: event(.worker, worker.workerID.description, from: nil, to: "idle"))
    return worker
}

@discardableResult
func makePatch(_ storage: any Storage, project: String = "p") async throws -> PatchLedgerEntry {
    let entry = PatchLedgerEntry(ledgerID: .make(), patchID: .make(), projectID: project, at: now)
    try await storage.insertPatch(entry, event: event(.patch, entry.ledgerID.description, from: nil, to: "created"))
    return entry
}

/// One patch transition as the engine makes it: check it with the state machine, then write it.
func transition(_ patch: PatchEvent, reason: String? = nil) -> Change<PatchLedgerEntry> {
    { current in
        let next = try current.applying(patch, at: now)
        return (
            next,
            event(
                .patch, current.ledgerID.description, from: current.state.rawValue, to: next.state.rawValue,
                reason: reason)
        )
    }
}

/// The code of a thrown ``SluiceError``, nil for anything else.
func code(of error: any Error) -> SluiceError.Code? {
    (error as? SluiceError)?.code
}

/// Runs async work to completion from a synchronous body on a pool thread (never on the
/// cooperative pool): for a test that makes another unit commit in the middle of one.
func blockingWait(_ work: @escaping @Sendable () async throws -> Void) throws {
    let done = DispatchSemaphore(value: 0)
    let failure = Shared<(any Error)?>(nil)
    Task {
        do { try await work() } catch { failure.value = error }
        done.signal()
    }
    done.wait()
    if let error = failure.value { throw error }
}
