import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore

extension BenchmarkSuite {
    /// How many claimers take tasks at once in `task_claims`.
    static let claimers = 8

    /// `task_claims`: tasks claimed per second by 8 concurrent claimers on `storage`, each claim one
    /// unit of work (the next task by priority and age, its worker made busy). Every claim takes a
    /// worker of its own, made beforehand, so that only claims are timed.
    func taskClaims(
        on storage: any Storage, database: String, baselineName: String, baseline: Double, ratio: String,
        detail extra: [String: JSONValue] = [:]
    ) async throws -> BenchmarkResult {
        let engine = Engine(EngineContext(storage: storage, actor: "bench"))
        let perClaimer = max(50, sizes.baselineCommits / Self.claimers)
        let total = perClaimer * Self.claimers
        for index in 0..<total {
            _ = try await engine.tasks.add(
                TaskRequest(
                    prompt: "task \(index)", projectID: "bench", executionRequestID: .make(), priority: index % 7))
        }
        var workers: [[WorkerID]] = []
        for _ in 0..<Self.claimers {
            var mine: [WorkerID] = []
            for _ in 0..<perClaimer { mine.append(try await engine.workers.create(type: .executor).workerID) }
            workers.append(mine)
        }
        var claims = 0
        let elapsed = try await seconds {
            claims = try await withThrowingTaskGroup(of: Int.self) { group in
                for mine in workers {
                    group.addTask {
                        var claimed = 0
                        for worker in mine where try await engine.tasks.claim(for: worker) != nil { claimed += 1 }
                        return claimed
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        let running = try await engine.tasks.list(TaskFilter(state: .running))
        guard claims == total, running.count == total, Set(running.compactMap(\.workerID)).count == total else {
            throw SluiceError(
                code: .storage, message: "task_claims: \(claims) claims and \(running.count) running of \(total)")
        }
        let rate = Double(claims) / elapsed
        return BenchmarkResult(
            name: database == "postgresql" ? "task_claims_postgres" : "task_claims", value: rate, unit: "claims/s",
            detail: extra.merging([
                "claims": .number(Decimal(claims)), "claimers": .number(Decimal(Self.claimers)),
                "database": .string(database),
                "ratio_to_baseline": .number(Decimal(string: String(format: "%.3f", rate / baseline)) ?? 0),
                "target": .string(">= \(ratio) x \(baselineName)"),
            ]) { $1 })
    }

    /// The benchmark repository, its agents unsealed: the benchmark's agent writes outside its workspace.
    func agentRepository(_ name: String) async throws -> String {
        try await benchRepository(name, settings: "sandbox: none\n")
    }

    /// `agent_start_latency`: from a task queued to its agent's process running, on a repository of
    /// `sizes.repositoryFiles` files, with one idle supervised worker waiting (its spare worktree made):
    /// the claim, the spare moved into place at the target branch's head, and the start. The agent notes
    /// the time it starts (CLOCK_REALTIME, as `date +%s%N`) and exits; the next task is queued once its
    /// attempt has ended and the worker is idle again. The same without spare worktrees (a checkout per
    /// task) is reported beside it.
    func agentStartLatency() async throws -> BenchmarkResult {
        let repository = try await agentRepository("agents-repo")
        let count = max(5, min(40, sizes.pipelinePatches * 4))
        let warm = try await startLatencies(repository: repository, tasks: count, spares: true)
        let cold = try await startLatencies(repository: repository, tasks: max(5, count / 4), spares: false)
        func format(_ value: Double) -> JSONValue { .number(Decimal(string: String(format: "%.1f", value)) ?? 0) }
        return BenchmarkResult(
            name: "agent_start_latency", value: warm[warm.count / 2], unit: "ms",
            detail: [
                "tasks": .number(Decimal(count)), "repository_files": .number(Decimal(sizes.repositoryFiles)),
                "p90_ms": format(warm[warm.count * 9 / 10]),
                "without_spare_worktrees_median_ms": format(cold[cold.count / 2]),
                "poll_seconds": .number(Decimal(SupervisorOptions(agent: .command).pollSeconds)),
                "target": .string("<= 200 ms at the median"),
            ])
    }

    /// Start latencies in milliseconds, sorted, of `tasks` tasks run one after another by one worker.
    func startLatencies(repository: String, tasks count: Int, spares: Bool) async throws -> [Double] {
        let name = spares ? "agents" : "agents-cold"
        let marks = path("\(name)-marks")
        try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
        let agent = (marks as NSString).appendingPathComponent("agent.sh")
        try Data(
            "#!/bin/sh\ndate +%s%N > \"\(marks)/$SLUICE_TASK_ID.tmp\"\nmv \"\(marks)/$SLUICE_TASK_ID.tmp\" \"\(marks)/$SLUICE_TASK_ID\"\n"
                .utf8
        )
        .write(to: URL(fileURLWithPath: agent))
        chmod(agent, 0o755)
        let storage = try SQLiteStorage(path: path("\(name).db"))
        let pipeline = Pipeline(
            engine: Engine(EngineContext(storage: storage, actor: "bench")), repository: repository,
            scratchDirectory: path("\(name)-scratch"))
        try pipeline.prepare()
        var options = SupervisorOptions(agent: .command, command: [agent], count: 1, keepFailed: 0, watch: true)
        options.spareWorktrees = spares
        let supervisor = try Supervisor(pipeline: pipeline, options: options)
        let run = Task { try await supervisor.run { _ in } }
        defer { run.cancel() }
        func waitFor(_ what: String, _ done: () async throws -> Bool) async throws {
            let deadline = Date().addingTimeInterval(60)
            while try await !done() {
                guard Date() < deadline else {
                    throw SluiceError(code: .storage, message: "agent_start_latency: \(what)")
                }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        var latencies: [Double] = []
        for index in 0..<count {
            if spares { try await waitFor("no spare worktree was made") { supervisor.readySpares > 0 } }
            let queued = Date().timeIntervalSince1970
            let task = try await pipeline.engine.tasks.add(
                TaskRequest(prompt: "bench \(index)", projectID: "bench", executionRequestID: .make()))
            let mark = (marks as NSString).appendingPathComponent(task.taskID.description)
            try await waitFor("no agent started") { FileManager.default.fileExists(atPath: mark) }
            let text = try String(contentsOfFile: mark, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let nanoseconds = Double(text) else { throw SluiceError(code: .storage, message: "bad mark \(text)") }
            latencies.append((nanoseconds / 1e9 - queued) * 1000)
            // The attempt ends (an empty diff fails it) before the next task is queued.
            try await waitFor("the attempt did not end") {
                try await pipeline.engine.tasks.get(task.taskID).state != .running
            }
        }
        supervisor.requestStop()
        run.cancel()
        _ = try? await run.value
        return latencies.sorted()
    }

    /// `supervisor_overhead`: the CPU time of this process (the supervisor: its watchdogs, heartbeats
    /// and reaper) per agent-minute, with 16 agents running that do nothing (they sleep), measured
    /// over `seconds`; the agents' own CPU is not counted.
    func supervisorOverhead(seconds window: Double) async throws -> BenchmarkResult {
        let repository = try await agentRepository("overhead-repo")
        let agents = 16
        let storage = try SQLiteStorage(path: path("overhead.db"))
        let engine = Engine(EngineContext(storage: storage, actor: "bench"))
        let pipeline = Pipeline(engine: engine, repository: repository, scratchDirectory: path("overhead-scratch"))
        try pipeline.prepare()
        for index in 0..<agents {
            _ = try await engine.tasks.add(
                TaskRequest(prompt: "idle \(index)", projectID: "bench", executionRequestID: .make()))
        }
        // Watching, as a long-lived supervisor does: each worker makes its spare worktree.
        let supervisor = try Supervisor(
            pipeline: pipeline,
            options: SupervisorOptions(
                agent: .command, command: ["/bin/sleep", "3600"], count: agents, keepFailed: 0, watch: true))
        let run = Task { try await supervisor.run { _ in } }
        // Every agent running, and every spare made, first.
        let deadline = Date().addingTimeInterval(300)
        while try await engine.tasks.list(TaskFilter(state: .running)).count < agents || supervisor.readySpares < agents
        {
            guard Date() < deadline else {
                throw SluiceError(code: .storage, message: "supervisor_overhead: agents did not start")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .seconds(2))
        let before = Self.processCPUSeconds()
        let start = ContinuousClock.now
        try await Task.sleep(for: .seconds(window))
        let cpu = Self.processCPUSeconds() - before
        let wall = (ContinuousClock.now - start).inSeconds
        run.cancel()
        _ = try? await run.value
        let agentMinutes = Double(agents) * wall / 60
        return BenchmarkResult(
            name: "supervisor_overhead", value: cpu / agentMinutes * 1000, unit: "ms CPU per agent-minute",
            detail: [
                "agents": .number(Decimal(agents)),
                "seconds": .number(Decimal(string: String(format: "%.1f", wall)) ?? 0),
                "cpu_seconds": .number(Decimal(string: String(format: "%.3f", cpu)) ?? 0),
                "percent_of_one_core": .number(Decimal(string: String(format: "%.3f", cpu / wall * 100)) ?? 0),
                "target": .string("< 1% of one core"),
            ])
    }

    /// User and system CPU seconds of this process (its children not counted).
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
