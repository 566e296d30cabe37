/// One merge-queue batch as a value: which stacks of its patches to gate, and from their results,
/// which to land and which to quarantine. A stack is a prefix of what is left of the batch, applied
/// one patch after another on the target branch as the batch's landings have left it.
///
/// The whole batch is gated first; when it passes it lands with one compare-and-swap. When it
/// fails, the culprit is found by bisection over prefixes: the shortest failing prefix ends with
/// the patch whose addition fails. The longest passing prefix before it lands (it was gated as it
/// is), the culprit is quarantined, and what came after it is gated again as the rest of the batch,
/// on the new head. A patch that fails alone is its own fault. For one culprit in a batch of N
/// that is at most 2 + ⌈log2 N⌉ gate runs (1 when nothing fails).
///
/// It does no I/O: ``start()`` and ``receive(_:)`` return what to do next; of the actions one call
/// returns, only the last may be ``Action/gate(_:)``, whose verdict is the next input. An input the
/// machine does not wait for is refused and changes nothing.
public struct BatchMachine: Sendable {
    /// What to do.
    public enum Action: Hashable, Sendable {
        /// Gate these patches, applied in this order on the branch's head as the batch has left it.
        /// Answer: ``Input/passed`` or ``Input/failed``.
        case gate([LedgerID])
        /// Land these patches, one commit each, with one compare-and-swap: they are exactly the
        /// stack the last passing gate run tested.
        case land([LedgerID])
        /// Quarantine this patch: adding it to `onTopOf` (empty: the branch alone) fails the gates.
        case quarantine(LedgerID, onTopOf: [LedgerID])
        /// The batch is resolved: every patch landed or quarantined.
        case finished
        /// The input was not one the machine waited for; nothing changed.
        case refuse(String)
    }

    /// A gate run's verdict on the stack last asked for.
    public enum Input: Hashable, Sendable {
        case passed
        case failed
    }

    /// Where the batch is.
    public enum State: Hashable, Sendable {
        /// Not started.
        case idle
        /// Waiting for the verdict on the first `probe` patches of `rest`; the first `good` are
        /// known to pass, the first `bad` (nil: none yet) to fail.
        case gating(rest: [LedgerID], good: Int, bad: Int?, probe: Int)
        /// Every patch landed or quarantined.
        case finished
    }

    public private(set) var state: State = .idle
    /// The patches of the batch, in queue order.
    public let patches: [LedgerID]
    /// Gate runs asked for so far.
    public private(set) var gateRuns = 0

    /// - Parameter patches: the batch, in queue order, each at most once.
    public init(_ patches: [LedgerID]) {
        self.patches = patches
    }

    /// Begins: gates the whole batch (finishes at once when it is empty).
    public mutating func start() -> [Action] {
        guard state == .idle else { return [.refuse("the batch has already started")] }
        return next(patches)
    }

    /// Takes the verdict on the stack last asked for.
    public mutating func receive(_ input: Input) -> [Action] {
        guard case .gating(let rest, var good, var bad, let probe) = state else {
            return [.refuse("no gate run is awaited (\(state))")]
        }
        switch input {
        case .passed: good = probe
        case .failed: bad = probe
        }
        guard let failing = bad else {
            // The whole rest passed.
            state = .finished
            return [.land(rest), .finished]
        }
        if failing - good > 1 {
            return ask(rest, good: good, bad: failing, probe: (good + failing) / 2)
        }
        // Adding rest[failing - 1] to the passing prefix fails: it is the culprit.
        let landing = Array(rest[..<good])
        var actions: [Action] = landing.isEmpty ? [] : [.land(landing)]
        actions.append(.quarantine(rest[failing - 1], onTopOf: landing))
        return actions + next(Array(rest[failing...]))
    }

    /// Gates `rest` whole, or finishes when nothing is left.
    private mutating func next(_ rest: [LedgerID]) -> [Action] {
        guard !rest.isEmpty else {
            state = .finished
            return [.finished]
        }
        return ask(rest, good: 0, bad: nil, probe: rest.count)
    }

    private mutating func ask(_ rest: [LedgerID], good: Int, bad: Int?, probe: Int) -> [Action] {
        state = .gating(rest: rest, good: good, bad: bad, probe: probe)
        gateRuns += 1
        return [.gate(Array(rest[..<probe]))]
    }
}
