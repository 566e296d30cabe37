import SluiceCore
import SluiceEngine
import SluiceTesting
import Testing

@Suite("WorkerService")
struct WorkerServiceTests {
    @Test("create records type, config, metadata and the creation event")
    func create() async throws {
        let test = try TestEngine()
        let worker = try await test.workers.create(
            type: .validator, config: WorkerConfig(maxParallelTasks: 2, heartbeatInterval: 10, timeoutSeconds: 60),
            metadata: ["agent": .string("aider")])
        let stored = try await test.workers.get(worker.workerID)
        #expect(stored == worker)
        #expect(stored.state == .idle)
        #expect(stored.config.maxParallelTasks == 2)
        #expect(stored.startedAt == test.clock.now())
        let events = try await test.engine.events(entityID: worker.workerID.description)
        #expect(events.count == 1)
        #expect(events[0].fromState == nil && events[0].toState == "idle" && events[0].actor == "test")
    }

    @Test("a caller-supplied id is kept; a taken one is a conflict")
    func suppliedID() async throws {
        let test = try TestEngine()
        let id = try WorkerID(parsing: "01ARZ3NDEKTSV4RRFFQ69G5FAV")
        await #expect(try test.workers.create(type: .custom, id: id).workerID == id)
        await #expect {
            try await test.workers.create(type: .custom, id: id)
        } throws: { ($0 as? SluiceError)?.code == .conflict }
    }

    @Test("a config with a value below 1 is refused and nothing is stored")
    func badConfig() async throws {
        let test = try TestEngine()
        await #expect {
            try await test.workers.create(type: .executor, config: WorkerConfig(maxParallelTasks: 0))
        } throws: { ($0 as? SluiceError)?.code == .invalidInput }
        await #expect(try test.workers.list().isEmpty)
    }

    @Test("crash, shutdown and heartbeat of an unknown worker are notFound")
    func unknownWorker() async throws {
        let test = try TestEngine()
        let id = WorkerID.make()
        for operation: (WorkerID) async throws -> WorkerRecord in [
            { try await test.workers.crash($0, error: "x") }, { try await test.workers.shutdown($0) },
            { try await test.workers.heartbeat($0) }, { try await test.workers.get($0) },
        ] {
            await #expect {
                try await operation(id)
            } throws: { ($0 as? SluiceError)?.code == .notFound }
        }
        await #expect(try test.engine.events().isEmpty)
    }

    @Test("crash and shutdown are refused from terminal states", arguments: [WorkerState.stopped, .crashed])
    func terminal(state: WorkerState) async throws {
        let test = try TestEngine()
        let id = try await test.workers.create(type: .executor).workerID
        if state == .stopped {
            try await test.workers.shutdown(id)
        } else {
            try await test.workers.crash(id, error: "first")
        }
        let before = try await test.workers.get(id)
        await #expect {
            try await test.workers.crash(id, error: "again")
        } throws: { ($0 as? SluiceError)?.currentState == state.rawValue }
        await #expect {
            try await test.workers.shutdown(id)
        } throws: { ($0 as? SluiceError)?.currentState == state.rawValue }
        await #expect {
            try await test.workers.heartbeat(id)
        } throws: { ($0 as? SluiceError)?.code == .invalidTransition }
        await #expect(try test.workers.get(id) == before)
    }

    @Test("resume leaves no task on an idle worker and keeps the task on a busy one")
    func resume() async throws {
        let test = try TestEngine()
        let idle = try await test.workers.create(type: .executor).workerID
        try await test.workers.pause(idle)
        let resumedIdle = try await test.workers.resume(idle)
        #expect(resumedIdle.state == .idle && resumedIdle.currentTaskID == nil)

        let busy = try await test.workers.create(type: .executor).workerID
        try await test.workers.assign(busy, task: "T-1")
        let paused = try await test.workers.pause(busy)
        #expect(paused.currentTaskID == "T-1")
        let resumedBusy = try await test.workers.resume(busy)
        #expect(resumedBusy.state == .busy && resumedBusy.currentTaskID == "T-1")
    }

    @Test("complete updates statistics; crash keeps them and records the crash")
    func statistics() async throws {
        let test = try TestEngine()
        let id = try await test.workers.create(type: .executor).workerID
        try await test.workers.assign(id, task: "a")
        try await test.workers.complete(id, success: true, executionSeconds: 1.5)
        try await test.workers.assign(id, task: "b")
        try await test.workers.complete(id, success: false, executionSeconds: 0.5)
        try await test.workers.assign(id, task: "c")
        test.clock.advance(seconds: 3)
        let crashed = try await test.workers.crash(id, error: "segfault", stackTrace: "frame 0")
        #expect(crashed.statistics == WorkerStatistics(tasksCompleted: 1, tasksFailed: 1, totalExecutionTime: 2))
        #expect(crashed.statistics.avgTaskDuration == 1)
        #expect(crashed.currentTaskID == nil)
        #expect(
            crashed.crashInfo == CrashInfo(crashedAt: test.clock.now(), errorMessage: "segfault", stackTrace: "frame 0")
        )
        await #expect(try test.workers.get(id) == crashed)
    }

    @Test("shutdown records stopped_at and releases the task")
    func shutdown() async throws {
        let test = try TestEngine()
        let id = try await test.workers.create(type: .executor).workerID
        try await test.workers.assign(id, task: "a")
        test.clock.advance(seconds: 5)
        let stopped = try await test.workers.shutdown(id)
        #expect(stopped.state == .stopped && stopped.currentTaskID == nil && stopped.stoppedAt == test.clock.now())
    }

    @Test("heartbeat records the time and renews the lease; stale uses the database's clock")
    func heartbeatAndStale() async throws {
        let test = try TestEngine()
        let fresh = try await test.workers.create(type: .executor).workerID
        let quiet = try await test.workers.create(type: .monitor).workerID
        test.databaseClock.advance(seconds: 100)
        test.clock.advance(seconds: 100)
        let beat = try await test.workers.heartbeat(fresh)
        #expect(beat.lastHeartbeat == test.clock.now())
        await #expect(try test.workers.stale(timeout: 50).map(\.workerID) == [quiet])
        await #expect(try test.workers.stale(timeout: 500).isEmpty)
        // Moving only the wall clock (as a worker with a wrong clock would) does not make anyone stale.
        test.clock.advance(seconds: 10_000)
        await #expect(try test.workers.stale(timeout: 500).isEmpty)
        await #expect(throws: SluiceError.self) { try await test.workers.stale(timeout: -1) }
    }

    @Test("list filters by state and type, newest first")
    func list() async throws {
        let test = try TestEngine()
        let a = try await test.workers.create(type: .executor).workerID
        test.clock.advance(milliseconds: 1)
        let b = try await test.workers.create(type: .monitor).workerID
        try await test.workers.assign(a, task: "t")
        await #expect(try test.workers.list().map(\.workerID) == [b, a])
        await #expect(try test.workers.list(state: .busy).map(\.workerID) == [a])
        await #expect(try test.workers.list(type: .monitor).map(\.workerID) == [b])
        await #expect(try test.workers.list(state: .busy, type: .monitor).isEmpty)
    }

    @Test("assign records the task in the event payload")
    func assignEvent() async throws {
        let test = try TestEngine()
        let id = try await test.workers.create(type: .executor).workerID
        try await test.workers.assign(id, task: "T-9")
        let event = try await #require(try test.engine.events(entityID: id.description).last)
        #expect(event.payload["task_id"] == .string("T-9"))
        #expect(event.reason == "task T-9")
    }
}
