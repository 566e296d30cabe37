import SluiceCore
import SluiceEngine
import SluiceTesting
import Testing

@Suite("WorkerService")
struct WorkerServiceTests {
    @Test("create records type, config, metadata and the creation event")
    func create() throws {
        let test = try TestEngine()
        let worker = try test.workers.create(
            type: .validator, config: WorkerConfig(maxParallelTasks: 2, heartbeatInterval: 10, timeoutSeconds: 60),
            metadata: ["agent": .string("aider")])
        let stored = try test.workers.get(worker.workerID)
        #expect(stored == worker)
        #expect(stored.state == .idle)
        #expect(stored.config.maxParallelTasks == 2)
        #expect(stored.startedAt == test.clock.now())
        let events = try test.engine.events(entityID: worker.workerID.description)
        #expect(events.count == 1)
        #expect(events[0].fromState == nil && events[0].toState == "idle" && events[0].actor == "test")
    }

    @Test("a caller-supplied id is kept; a taken one is a conflict")
    func suppliedID() throws {
        let test = try TestEngine()
        let id = try WorkerID(parsing: "01ARZ3NDEKTSV4RRFFQ69G5FAV")
        #expect(try test.workers.create(type: .custom, id: id).workerID == id)
        #expect {
            try test.workers.create(type: .custom, id: id)
        } throws: { ($0 as? SluiceError)?.code == .conflict }
    }

    @Test("a config with a value below 1 is refused and nothing is stored")
    func badConfig() throws {
        let test = try TestEngine()
        #expect {
            try test.workers.create(type: .executor, config: WorkerConfig(maxParallelTasks: 0))
        } throws: { ($0 as? SluiceError)?.code == .invalidInput }
        #expect(try test.workers.list().isEmpty)
    }

    @Test("crash, shutdown and heartbeat of an unknown worker are notFound")
    func unknownWorker() throws {
        let test = try TestEngine()
        let id = WorkerID.make()
        for operation: (WorkerID) throws -> WorkerRecord in [
            { try test.workers.crash($0, error: "x") }, { try test.workers.shutdown($0) },
            { try test.workers.heartbeat($0) }, { try test.workers.get($0) },
        ] {
            #expect {
                try operation(id)
            } throws: { ($0 as? SluiceError)?.code == .notFound }
        }
        #expect(try test.engine.events().isEmpty)
    }

    @Test("crash and shutdown are refused from terminal states", arguments: [WorkerState.stopped, .crashed])
    func terminal(state: WorkerState) throws {
        let test = try TestEngine()
        let id = try test.workers.create(type: .executor).workerID
        if state == .stopped { try test.workers.shutdown(id) } else { try test.workers.crash(id, error: "first") }
        let before = try test.workers.get(id)
        #expect {
            try test.workers.crash(id, error: "again")
        } throws: { ($0 as? SluiceError)?.currentState == state.rawValue }
        #expect {
            try test.workers.shutdown(id)
        } throws: { ($0 as? SluiceError)?.currentState == state.rawValue }
        #expect {
            try test.workers.heartbeat(id)
        } throws: { ($0 as? SluiceError)?.code == .invalidTransition }
        #expect(try test.workers.get(id) == before)
    }

    @Test("resume leaves no task on an idle worker and keeps the task on a busy one")
    func resume() throws {
        let test = try TestEngine()
        let idle = try test.workers.create(type: .executor).workerID
        try test.workers.pause(idle)
        let resumedIdle = try test.workers.resume(idle)
        #expect(resumedIdle.state == .idle && resumedIdle.currentTaskID == nil)

        let busy = try test.workers.create(type: .executor).workerID
        try test.workers.assign(busy, task: "T-1")
        let paused = try test.workers.pause(busy)
        #expect(paused.currentTaskID == "T-1")
        let resumedBusy = try test.workers.resume(busy)
        #expect(resumedBusy.state == .busy && resumedBusy.currentTaskID == "T-1")
    }

    @Test("complete updates statistics; crash keeps them and records the crash")
    func statistics() throws {
        let test = try TestEngine()
        let id = try test.workers.create(type: .executor).workerID
        try test.workers.assign(id, task: "a")
        try test.workers.complete(id, success: true, executionSeconds: 1.5)
        try test.workers.assign(id, task: "b")
        try test.workers.complete(id, success: false, executionSeconds: 0.5)
        try test.workers.assign(id, task: "c")
        test.clock.advance(seconds: 3)
        let crashed = try test.workers.crash(id, error: "segfault", stackTrace: "frame 0")
        #expect(crashed.statistics == WorkerStatistics(tasksCompleted: 1, tasksFailed: 1, totalExecutionTime: 2))
        #expect(crashed.statistics.avgTaskDuration == 1)
        #expect(crashed.currentTaskID == nil)
        #expect(
            crashed.crashInfo == CrashInfo(crashedAt: test.clock.now(), errorMessage: "segfault", stackTrace: "frame 0")
        )
        #expect(try test.workers.get(id) == crashed)
    }

    @Test("shutdown records stopped_at and releases the task")
    func shutdown() throws {
        let test = try TestEngine()
        let id = try test.workers.create(type: .executor).workerID
        try test.workers.assign(id, task: "a")
        test.clock.advance(seconds: 5)
        let stopped = try test.workers.shutdown(id)
        #expect(stopped.state == .stopped && stopped.currentTaskID == nil && stopped.stoppedAt == test.clock.now())
    }

    @Test("heartbeat records the time and renews the lease; stale uses the database's clock")
    func heartbeatAndStale() throws {
        let test = try TestEngine()
        let fresh = try test.workers.create(type: .executor).workerID
        let quiet = try test.workers.create(type: .monitor).workerID
        test.databaseClock.advance(seconds: 100)
        test.clock.advance(seconds: 100)
        let beat = try test.workers.heartbeat(fresh)
        #expect(beat.lastHeartbeat == test.clock.now())
        #expect(try test.workers.stale(timeout: 50).map(\.workerID) == [quiet])
        #expect(try test.workers.stale(timeout: 500).isEmpty)
        // Moving only the wall clock (as a worker with a wrong clock would) does not make anyone stale.
        test.clock.advance(seconds: 10_000)
        #expect(try test.workers.stale(timeout: 500).isEmpty)
        #expect(throws: SluiceError.self) { try test.workers.stale(timeout: -1) }
    }

    @Test("list filters by state and type, newest first")
    func list() throws {
        let test = try TestEngine()
        let a = try test.workers.create(type: .executor).workerID
        test.clock.advance(milliseconds: 1)
        let b = try test.workers.create(type: .monitor).workerID
        try test.workers.assign(a, task: "t")
        #expect(try test.workers.list().map(\.workerID) == [b, a])
        #expect(try test.workers.list(state: .busy).map(\.workerID) == [a])
        #expect(try test.workers.list(type: .monitor).map(\.workerID) == [b])
        #expect(try test.workers.list(state: .busy, type: .monitor).isEmpty)
    }

    @Test("assign records the task in the event payload")
    func assignEvent() throws {
        let test = try TestEngine()
        let id = try test.workers.create(type: .executor).workerID
        try test.workers.assign(id, task: "T-9")
        let event = try #require(try test.engine.events(entityID: id.description).last)
        #expect(event.payload["task_id"] == .string("T-9"))
        #expect(event.reason == "task T-9")
    }
}
