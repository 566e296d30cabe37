import Foundation
import SluiceCore
import SluiceStore
import Synchronization

extension Supervisor {
    /// The states of the workers whose agents run, read for all of them at once: one read a round for
    /// the whole supervisor, not one per agent. Each agent's monitor looks here for pause, resume and
    /// stop now.
    final class WorkerBoard: Sendable {
        private let states = Mutex<[WorkerID: WorkerState?]>([:])

        /// Starts following `worker` (its agent has started).
        func follow(_ worker: WorkerID) { states.withLock { $0[worker] = .some(nil) } }

        /// Stops following `worker` (its agent has ended).
        func forget(_ worker: WorkerID) { _ = states.withLock { $0.removeValue(forKey: worker) } }

        /// The worker's state at the last round; nil before the first, or when it has no record.
        func state(of worker: WorkerID) -> WorkerState? { states.withLock { $0[worker] ?? nil } }

        var followed: [WorkerID] { states.withLock { Array($0.keys) } }

        func update(_ read: [WorkerID: WorkerState]) {
            states.withLock { states in
                for worker in states.keys { states[worker] = .some(read[worker]) }
            }
        }
    }

    /// Seconds between two rounds of the board: once a second under a stall limit below 5 s, else
    /// every 2 s.
    var boardSeconds: Double {
        let stall = options.limits.stallSeconds
        return stall > 0 && stall < 5 ? 1 : 2
    }

    /// Reads the followed workers' states every ``boardSeconds``, until cancelled.
    func boardLoop() async {
        while !Task.isCancelled {
            let followed = board.followed
            if !followed.isEmpty {
                // A database that fails for a moment fails this round only.
                if let read = try? await engine.context.storage.read({ tx in
                    try followed.reduce(into: [WorkerID: WorkerState]()) { states, worker in
                        states[worker] = try tx.worker(worker)?.state
                    }
                }) {
                    board.update(read)
                }
            }
            do {
                try await Task.sleep(for: .seconds(boardSeconds))
            } catch {
                return
            }
        }
    }
}
