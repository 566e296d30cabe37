import SluiceCore
import Testing

/// Every (from, to) pair of the three state machines, against DESIGN.md's tables.
@Suite("State machine tables")
struct StateMachineTableTests {
    static let workerAllowed: Set<String> = [
        "idle>busy", "busy>idle", "idle>paused", "busy>paused", "paused>busy", "paused>idle", "idle>crashed",
        "busy>crashed", "paused>crashed", "idle>stopped", "busy>stopped", "paused>stopped",
    ]

    static let patchAllowed: Set<String> = [
        "created>validated", "created>apply_failed", "created>quarantined", "created>dropped",
        "validated>queued", "validated>quarantined", "validated>dropped",
        "queued>applied", "queued>apply_failed", "queued>quarantined", "queued>dropped",
        "applied>verified", "applied>apply_failed", "applied>rolled_back", "applied>quarantined", "applied>dropped",
        "apply_failed>queued", "apply_failed>quarantined", "apply_failed>dropped",
        "verified>committed", "verified>rolled_back", "verified>quarantined", "verified>dropped",
        "quarantined>dropped",
    ]

    static let gateAllowed: Set<String> = [
        "pending>running", "running>passed", "running>failed", "running>error", "pending>skipped", "running>skipped",
    ]

    static let workerPairs = WorkerState.allCases.flatMap { from in WorkerState.allCases.map { (from, $0) } }
    static let patchPairs = PatchState.allCases.flatMap { from in PatchState.allCases.map { (from, $0) } }
    static let gatePairs = GateState.allCases.flatMap { from in GateState.allCases.map { (from, $0) } }

    @Test("the pair counts are 25, 100 and 36")
    func counts() {
        #expect(Self.workerPairs.count == 25)
        #expect(Self.patchPairs.count == 100)
        #expect(Self.gatePairs.count == 36)
    }

    @Test("worker transitions follow the table", arguments: workerPairs)
    func worker(from: WorkerState, to: WorkerState) {
        #expect(from.canTransition(to: to) == Self.workerAllowed.contains("\(from.rawValue)>\(to.rawValue)"))
    }

    @Test("patch transitions follow the table", arguments: patchPairs)
    func patch(from: PatchState, to: PatchState) {
        #expect(from.canTransition(to: to) == Self.patchAllowed.contains("\(from.rawValue)>\(to.rawValue)"))
    }

    @Test("gate transitions follow the table", arguments: gatePairs)
    func gate(from: GateState, to: GateState) {
        #expect(from.canTransition(to: to) == Self.gateAllowed.contains("\(from.rawValue)>\(to.rawValue)"))
    }

    @Test("terminal states have no way out")
    func terminal() {
        for state in WorkerState.allCases where state.isTerminal {
            #expect(WorkerState.allCases.allSatisfy { !state.canTransition(to: $0) })
        }
        for state in PatchState.allCases where state.isTerminal {
            #expect(state.allowedTargets.isEmpty)
        }
        for state in GateState.allCases where state.isTerminal {
            #expect(GateState.allCases.allSatisfy { !state.canTransition(to: $0) })
        }
        #expect(WorkerState.allCases.filter(\.isTerminal) == [.stopped, .crashed])
        #expect(PatchState.allCases.filter(\.isTerminal) == [.committed, .rolledBack, .dropped])
        #expect(GateState.allCases.filter(\.isTerminal) == [.passed, .failed, .skipped, .error])
    }
}

@Suite("Worker events")
struct WorkerEventTests {
    let now = Timestamp(milliseconds: 1_000)

    func worker(_ state: WorkerState, task: String? = nil) -> WorkerRecord {
        var worker = WorkerRecord(workerID: .make(), workerType: .executor, at: Timestamp(milliseconds: 0))
        worker.state = state
        worker.currentTaskID = task
        return worker
    }

    @Test("resume of a paused worker without a task makes it idle with no task")
    func resumeIdle() throws {
        let next = try worker(.paused).applying(.resume, at: now)
        #expect(next.state == .idle)
        #expect(next.currentTaskID == nil)
    }

    @Test("resume of a paused worker that kept its task makes it busy with that task")
    func resumeBusy() throws {
        let next = try worker(.paused, task: "t1").applying(.resume, at: now)
        #expect(next.state == .busy)
        #expect(next.currentTaskID == "t1")
    }

    @Test("completing updates statistics and the derived average")
    func complete() throws {
        var current = worker(.busy, task: "t")
        current = try current.applying(.complete(success: true, executionSeconds: 3), at: now)
        current = try current.applying(.assign(taskID: "u"), at: now)
        current = try current.applying(.complete(success: false, executionSeconds: 1), at: now)
        #expect(current.statistics.tasksCompleted == 1)
        #expect(current.statistics.tasksFailed == 1)
        #expect(current.statistics.totalExecutionTime == 4)
        #expect(current.statistics.avgTaskDuration == 2)
        #expect(WorkerStatistics().avgTaskDuration == 0)
    }

    @Test("crash and shutdown release the task and record when", arguments: [WorkerState.idle, .busy, .paused])
    func crashAndShutdown(from: WorkerState) throws {
        let crashed = try worker(from, task: from == .idle ? nil : "t").applying(
            .crash(errorMessage: "boom", stackTrace: "at main"), at: now)
        #expect(crashed.state == .crashed)
        #expect(crashed.currentTaskID == nil)
        #expect(crashed.crashInfo == CrashInfo(crashedAt: now, errorMessage: "boom", stackTrace: "at main"))
        let stopped = try worker(from, task: from == .idle ? nil : "t").applying(.shutdown, at: now)
        #expect(stopped.state == .stopped)
        #expect(stopped.currentTaskID == nil)
        #expect(stopped.stoppedAt == now)
    }

    @Test("terminal workers accept no event", arguments: [WorkerState.stopped, .crashed])
    func terminalRejects(state: WorkerState) {
        let events: [WorkerEvent] = [
            .assign(taskID: "t"), .complete(success: true, executionSeconds: 0), .pause, .resume,
            .crash(errorMessage: "x", stackTrace: nil), .shutdown,
        ]
        for event in events {
            #expect {
                try worker(state).applying(event, at: now)
            } throws: { error in
                let error = error as? SluiceError
                return error?.code == .invalidTransition && error?.currentState == state.rawValue
            }
        }
    }

    @Test("negative or non-finite execution seconds are refused", arguments: [-1.0, .infinity, .nan])
    func badSeconds(seconds: Double) {
        #expect {
            try worker(.busy, task: "t").applying(.complete(success: true, executionSeconds: seconds), at: now)
        } throws: { ($0 as? SluiceError)?.code == .invalidInput }
    }

    @Test("a task's seconds are bounded to a year, so statistics stay finite", arguments: [31_536_000.5, 1.7e308])
    func secondsOutOfRange(seconds: Double) throws {
        #expect {
            try worker(.busy, task: "t").applying(.complete(success: true, executionSeconds: seconds), at: now)
        } throws: { error in
            let error = error as? SluiceError
            return error?.code == .invalidInput && error?.message.contains("31536000") == true
        }
        let done = try worker(.busy, task: "t").applying(
            .complete(success: true, executionSeconds: 31_536_000), at: now)
        #expect(done.statistics.totalExecutionTime == 31_536_000)
    }

    @Test("an empty task id is refused")
    func emptyTask() {
        #expect(throws: SluiceError.self) { try worker(.idle).applying(.assign(taskID: ""), at: now) }
    }

    @Test("statistics export the derived average")
    func statisticsJSON() throws {
        let text = try SluiceJSON.line(WorkerStatistics(tasksCompleted: 1, tasksFailed: 1, totalExecutionTime: 5))
        #expect(text.contains("\"avg_task_duration\":2.5"))
    }
}

@Suite("Patch events")
struct PatchEventTests {
    let now = Timestamp(milliseconds: 5_000)

    func entry(_ state: PatchState) -> PatchLedgerEntry {
        var entry = PatchLedgerEntry(
            ledgerID: .make(), patchID: .make(), projectID: "p", at: Timestamp(milliseconds: 0))
        entry.state = state
        return entry
    }

    @Test("failed validation goes to apply_failed with the errors")
    func validationFails() throws {
        let next = try entry(.created).applying(
            .validate(formatOK: true, scopeOK: false, constraintsOK: true, errors: ["scope: ../x"]), at: now)
        #expect(next.state == .applyFailed)
        #expect(next.validation.scopeOK == false)
        #expect(next.validation.validationErrors == ["scope: ../x"])
        #expect(next.stateHistory.last == PatchHistoryEntry(state: .applyFailed, at: now, reason: "scope: ../x"))
    }

    @Test("every apply attempt counts and applied files are unique")
    func attempts() throws {
        var current = try entry(.queued).applying(.applyFailed(errorCode: "conflict", errorMessage: "hunk 1"), at: now)
        #expect(current.apply.attempts == 1)
        #expect(current.apply.lastErrorCode == "conflict")
        current = try current.applying(.queue, at: now)
        current = try current.applying(.applySucceeded(workspacePath: "/w", files: ["a", "b", "a"]), at: now)
        #expect(current.apply.attempts == 2)
        #expect(current.apply.appliedFiles == ["a", "b"])
        #expect(current.apply.workspacePath == "/w")
    }

    @Test("quarantine records reason, path and time")
    func quarantine() throws {
        let next = try entry(.applyFailed).applying(.quarantine(reason: "tests failed", path: "/q"), at: now)
        #expect(
            next.quarantine
                == {
                    var q = PatchQuarantine()
                    q.isQuarantined = true
                    q.quarantineReason = "tests failed"
                    q.quarantinePath = "/q"
                    q.quarantinedAt = now
                    return q
                }())
    }

    @Test("reasons are required for rollback, quarantine and drop")
    func reasonsRequired() {
        #expect(throws: SluiceError.self) { try entry(.applied).applying(.rollback(reason: " "), at: now) }
        #expect(throws: SluiceError.self) { try entry(.queued).applying(.quarantine(reason: "", path: nil), at: now) }
        #expect(throws: SluiceError.self) { try entry(.queued).applying(.drop(reason: ""), at: now) }
    }

    @Test("the error names the current state and what the operation needs")
    func errorMessage() {
        let current = entry(.created)
        #expect {
            try current.applying(.queue, at: now)
        } throws: { error in
            (error as? SluiceError)?.message
                == "cannot queue patch \(current.ledgerID): it is created; queue needs validated or apply_failed"
        }
    }
}

@Suite("Patch attempts")
struct PatchAttemptTests {
    @Test("a failure found after applying is recorded on that attempt, not counted as another")
    func failureAfterApplying() throws {
        let now = Timestamp(milliseconds: 1)
        var entry = PatchLedgerEntry(ledgerID: .make(), patchID: .make(), projectID: "p", at: now)
        entry.state = .queued
        entry = try entry.applying(.applySucceeded(workspacePath: "/w", files: []), at: now)
        entry = try entry.applying(.applyFailed(errorCode: "interrupted", errorMessage: "stopped"), at: now)
        #expect(entry.apply.attempts == 1 && entry.state == .applyFailed && entry.apply.lastErrorCode == "interrupted")
        entry = try entry.applying(.queue, at: now)
        entry = try entry.applying(.applyFailed(errorCode: "conflict", errorMessage: "hunk"), at: now)
        #expect(entry.apply.attempts == 2)
    }
}
