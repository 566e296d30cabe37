import Foundation
import SluiceCore
import SluiceStore
import Synchronization

extension Supervisor {
    /// One worker's spare worktree: made while its agent runs (or while it waits for its first task),
    /// taken by its next claim, so that an agent starts without waiting for a whole checkout.
    final class SpareSlot: Sendable {
        private let making = Mutex<Task<AgentWorkspaces.Spare?, Never>?>(nil)

        /// Starts `make` unless a spare is made or being made.
        func start(_ make: @escaping @Sendable () async -> AgentWorkspaces.Spare?) {
            making.withLock { task in
                if task == nil { task = Task(operation: make) }
            }
        }

        /// The spare, once made (waiting for one being made); nil when none was started or making it
        /// failed. The slot is empty after.
        func take() async -> AgentWorkspaces.Spare? {
            let task = making.withLock { task in
                defer { task = nil }
                return task
            }
            return await task?.value
        }
    }

    /// Starts making a spare worktree for `slot` at the target branch's head, unless it has one. A
    /// supervisor that ends with the queue makes none while nothing is queued: it would only be removed.
    func prepareSpare(_ slot: SpareSlot) {
        guard options.spareWorktrees else { return }
        slot.start {
            if !self.options.watch {
                let next = try? await self.engine.tasks.list(
                    TaskFilter(state: .queued, projectID: self.options.projectID, limit: 1))
                guard next?.isEmpty == false else { return nil }
            }
            guard let head = try? await self.pipeline.configuration().1,
                let spare = try? await self.workspaces.makeSpare(at: head)
            else { return nil }
            self.spares.add(1, ordering: .relaxed)
            return spare
        }
    }

    /// The slot's spare, waiting for one being made.
    func takeSpare(_ slot: SpareSlot) async -> AgentWorkspaces.Spare? {
        guard let spare = await slot.take() else { return nil }
        spares.subtract(1, ordering: .relaxed)
        return spare
    }

    /// Removes the slot's spare (the worker is ending).
    func discardSpare(_ slot: SpareSlot) async {
        if let spare = await takeSpare(slot) { await workspaces.discard(spare) }
    }

    /// Spare worktrees made and not yet taken.
    package var readySpares: Int { spares.load(ordering: .relaxed) }
}
