import SluiceCore
import Testing

/// A merge-queue batch as a value, over scripted gate outcomes: every batch size from 1 to 8, a
/// culprit at every position, every pair of culprits, a pair that fails only together, and inputs
/// out of turn. No git, no process, no ledger.
@Suite("Merge-queue batch state machine")
struct BatchMachineTests {
    /// Patch ids in a fixed order: `ids[3]` is the fourth of a batch.
    static let ids: [LedgerID] = (0..<8).map { index in
        try! LedgerID(parsing: "01JBQ4Z3N8W6T1X9R5K2M7V0A" + String("ABCDEFGH".map { $0 }[index]))
    }

    /// What a run of the machine did, judged by a gate that fails whenever `fails` says the branch
    /// plus the stack does.
    struct Outcome {
        var landed: [LedgerID] = []
        var quarantined: [LedgerID] = []
        var gateRuns = 0
    }

    /// Drives a batch to its end; checks on the way that each landing is exactly a stack a gate run
    /// passed on the branch as it is (since the last landing), and that the machine finishes.
    static func drive(_ batch: [LedgerID], fails: ([LedgerID]) -> Bool) throws -> Outcome {
        var machine = BatchMachine(batch)
        var outcome = Outcome()
        var passed: [[LedgerID]] = []
        var pending = machine.start()
        var steps = 0
        while true {
            steps += 1
            #expect(steps < 100, "the machine does not finish")
            guard steps < 100 else { throw Stuck() }
            var input: BatchMachine.Input?
            for (index, action) in pending.enumerated() {
                switch action {
                case .gate(let stack):
                    #expect(index == pending.count - 1, "a gate run is the last action of a step")
                    #expect(!stack.isEmpty)
                    outcome.gateRuns += 1
                    let failed = fails(outcome.landed + stack)
                    if !failed { passed.append(stack) }
                    input = failed ? .failed : .passed
                case .land(let stack):
                    #expect(passed.contains(stack), "landed \(stack), which no gate run passed on this branch")
                    outcome.landed += stack
                    passed = []
                case .quarantine(let id, let below):
                    #expect(below.isEmpty || Array(outcome.landed.suffix(below.count)) == below)
                    outcome.quarantined.append(id)
                case .finished:
                    #expect(index == pending.count - 1)
                    #expect(machine.state == .finished)
                    #expect(machine.gateRuns == outcome.gateRuns)
                    return outcome
                case .refuse(let why):
                    Issue.record("refused: \(why)")
                    throw Stuck()
                }
            }
            guard let input else { throw Stuck() }
            pending = machine.receive(input)
        }
    }

    struct Stuck: Error {}

    /// ⌈log2 n⌉.
    static func log2(_ n: Int) -> Int {
        var bits = 0
        while (1 << bits) < n { bits += 1 }
        return bits
    }

    @Test("a clean batch of 1 to 8 lands whole after one gate run")
    func clean() throws {
        for size in 1...8 {
            let batch = Array(Self.ids[..<size])
            let outcome = try Self.drive(batch) { _ in false }
            #expect(outcome.landed == batch && outcome.quarantined.isEmpty && outcome.gateRuns == 1, "size \(size)")
        }
    }

    @Test("one culprit at every position of batches of 1 to 8: the rest land in order, in at most 2 + ⌈log2 N⌉ runs")
    func oneCulprit() throws {
        for size in 1...8 {
            for position in 0..<size {
                let batch = Array(Self.ids[..<size])
                let culprit = batch[position]
                let outcome = try Self.drive(batch) { $0.contains(culprit) }
                #expect(outcome.quarantined == [culprit], "size \(size), culprit \(position)")
                #expect(outcome.landed == batch.filter { $0 != culprit }, "size \(size), culprit \(position)")
                // The full batch, the bisection, and the rest after the culprit (when there is one).
                let bound = 1 + Self.log2(size) + (position == size - 1 ? 0 : 1)
                #expect(outcome.gateRuns <= bound, "size \(size), culprit \(position): \(outcome.gateRuns) runs")
            }
        }
        // The figure the issue asks for: a batch of 4 whose last patch is the culprit lands 3 in 3 runs.
        let outcome = try Self.drive(Array(Self.ids[..<4])) { $0.contains(Self.ids[3]) }
        #expect(outcome.landed == Array(Self.ids[..<3]) && outcome.gateRuns == 3)
    }

    @Test("two culprits anywhere in batches of 2 to 8: both quarantined, every other patch lands in order")
    func twoCulprits() throws {
        for size in 2...8 {
            let batch = Array(Self.ids[..<size])
            for first in 0..<size {
                for second in (first + 1)..<size {
                    let culprits = [batch[first], batch[second]]
                    let outcome = try Self.drive(batch) { stack in culprits.contains { stack.contains($0) } }
                    #expect(outcome.quarantined == culprits, "size \(size), culprits \(first) and \(second)")
                    #expect(outcome.landed == batch.filter { !culprits.contains($0) })
                    #expect(outcome.gateRuns <= 2 * (1 + Self.log2(size)) + 1)
                }
            }
        }
    }

    @Test("two patches that fail only together: the later one, whose addition fails, is quarantined")
    func failingTogether() throws {
        for size in 2...8 {
            let batch = Array(Self.ids[..<size])
            for first in 0..<size {
                for second in (first + 1)..<size {
                    let (a, b) = (batch[first], batch[second])
                    let outcome = try Self.drive(batch) { $0.contains(a) && $0.contains(b) }
                    #expect(outcome.quarantined == [b], "size \(size), pair \(first) and \(second)")
                    #expect(outcome.landed == batch.filter { $0 != b })
                }
            }
        }
    }

    @Test("a patch alone that fails is its own fault; every patch failing quarantines each, on the branch alone")
    func alone() throws {
        var single = BatchMachine([Self.ids[0]])
        #expect(single.start() == [.gate([Self.ids[0]])])
        #expect(single.receive(.failed) == [.quarantine(Self.ids[0], onTopOf: []), .finished])
        let all = try Self.drive(Array(Self.ids[..<5])) { !$0.isEmpty }
        #expect(all.quarantined == Array(Self.ids[..<5]) && all.landed.isEmpty)
    }

    @Test("inputs out of turn are refused and change nothing; an empty batch finishes at once")
    func outOfTurn() {
        var idle = BatchMachine([Self.ids[0]])
        guard case .refuse = idle.receive(.passed).first else {
            Issue.record("a verdict before the start was taken")
            return
        }
        #expect(idle.state == .idle && idle.gateRuns == 0)
        #expect(idle.start() == [.gate([Self.ids[0]])])
        guard case .refuse = idle.start().first else {
            Issue.record("a second start was taken")
            return
        }
        #expect(idle.receive(.passed) == [.land([Self.ids[0]]), .finished])
        guard case .refuse = idle.receive(.failed).first else {
            Issue.record("a verdict after the end was taken")
            return
        }
        #expect(idle.state == .finished && idle.gateRuns == 1)
        var empty = BatchMachine([])
        #expect(empty.start() == [.finished] && empty.gateRuns == 0)
    }

    @Test("a batch of 8 with its culprit in the middle: the exact runs, and what each one tested")
    func exactRuns() {
        let batch = Array(Self.ids[..<8])
        var machine = BatchMachine(batch)
        // Culprit at index 5: the whole fails, 4 passes, 6 fails, 5 passes: index 5 is the culprit.
        #expect(machine.start() == [.gate(batch)])
        #expect(machine.receive(.failed) == [.gate(Array(batch[..<4]))])
        #expect(machine.receive(.passed) == [.gate(Array(batch[..<6]))])
        #expect(machine.receive(.failed) == [.gate(Array(batch[..<5]))])
        #expect(
            machine.receive(.passed) == [
                .land(Array(batch[..<5])), .quarantine(batch[5], onTopOf: Array(batch[..<5])),
                .gate(Array(batch[6...])),
            ])
        #expect(machine.receive(.passed) == [.land(Array(batch[6...])), .finished])
        #expect(machine.gateRuns == 5)
    }
}
