import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore
import SluiceTesting
import Testing

/// The supervisor with real git, real agent processes (shell scripts standing in for agents) and a
/// real database file: each way an agent can end, ends as the rules say, and no agent process survives.
@Suite("Supervisor: agents run, watched, and their work becomes patches")
struct SupervisorTests {
    static let config = """
        target_branch: main
        gates:
          - name: tests
            type: unit_tests
            command: "exit 0"
        logs: {grace_seconds: 1}
        """

    final class Fixture: Sendable {
        let repository: TemporaryGitRepository
        let scratch = TemporaryDirectory(prefix: "sluice-scratch")
        let agents = TemporaryDirectory(prefix: "sluice-agents")
        let pipeline: Pipeline
        var engine: Engine { pipeline.engine }

        init(storage: (any Storage)? = nil) throws {
            repository = try TemporaryGitRepository(files: [
                "calc.py": "def add(a, b):\n    return a + b\n", "sluice.yml": SupervisorTests.config,
            ])
            let storage =
                try storage ?? SQLiteStorage(path: repository.directory.file(".sluice/sluice.db").creatingParent())
            pipeline = Pipeline(
                engine: Engine(EngineContext(storage: storage, actor: "test")), repository: repository.path,
                scratchDirectory: scratch.path)
            try pipeline.prepare()
        }

        /// A fake agent: a shell script with `body`.
        func agent(_ body: String, name: String = UUID().uuidString) throws -> String {
            let path = agents.file(name)
            try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: false, encoding: .utf8)
            chmod(path, 0o755)
            return path
        }

        @discardableResult
        func task(_ prompt: String = "Change something", maxAttempts: Int = 3, agent: String? = nil) async throws
            -> TaskRecord
        {
            try await engine.tasks.add(
                TaskRequest(
                    prompt: prompt, projectID: "calc", executionRequestID: .make(), maxAttempts: maxAttempts,
                    agent: agent))
        }

        func options(
            _ command: [String], kind: AgentKind = .command, count: Int = 1, limits: WatchdogLimits = WatchdogLimits()
        ) -> SupervisorOptions {
            SupervisorOptions(
                // A lease far longer than any test: a busy test machine never makes a worker look dead.
                agent: kind, command: command, count: count, heartbeatSeconds: 0.3, leaseSeconds: 600, limits: limits,
                keepFailed: 2, pollSeconds: 0.1, graceSeconds: 1)
        }

        func supervise(_ options: SupervisorOptions) async throws -> (SupervisorSummary, [SupervisorEvent]) {
            let events = Shared<[SupervisorEvent]>([])
            let supervisor = try Supervisor(pipeline: pipeline, options: options)
            let summary = try await supervisor.run { event in events.value.append(event) }
            return (summary, events.value)
        }

        func get(_ task: TaskRecord) async throws -> TaskRecord { try await engine.tasks.get(task.taskID) }
    }

    /// Processes whose command line holds `marker`.
    static func processes(holding marker: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
            guard let pid = Int32(name),
                let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline"),
                String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(marker)
            else { return nil }
            return pid
        }
    }

    static func environment(of pid: Int32) -> [String: String] {
        let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data()
        return Dictionary(
            data.split(separator: 0).compactMap { entry in
                let text = String(decoding: entry, as: UTF8.self)
                guard let equals = text.firstIndex(of: "=") else { return nil }
                return (String(text[..<equals]), String(text[text.index(after: equals)...]))
            }, uniquingKeysWith: { first, _ in first })
    }

    @Test("an agent that changes files and exits 0: a patch with the task, its usage as api_call costs, the task done")
    func success() async throws {
        let fixture = try Fixture()
        let task = try await fixture.task("Add mul\n\nto calc.py")
        let agent = try fixture.agent(
            """
            printf 'def mul(a, b):\\n    return a * b\\n' >> calc.py
            printf 'no newline at the end' > notes.txt
            echo '{"usage": {"model": "m1", "input_tokens": 100, "cached_input_tokens": 20, "output_tokens": 7, "cost_usd": 0.012}}'
            test "$SLUICE_TASK_ID" = "$(basename "$(dirname "$PWD")" | sed 's/-e[0-9]*$//')" || exit 9
            """)
        let (summary, _) = try await fixture.supervise(fixture.options([agent, "{prompt_file}"]))
        #expect(summary.done == 1 && summary.failed == 0)
        let done = try await fixture.get(task)
        #expect(done.state == .done)
        let patch = try #require(done.ledgerID)
        let entry = try await fixture.engine.patches.get(patch)
        #expect(entry.state == .queued, "\(entry.stateHistory.map { $0.reason ?? "-" })")
        let source = try #require(try await fixture.engine.context.storage.patchSource(patch))
        let text = String(decoding: source.bytes, as: UTF8.self)
        #expect(
            text.contains("+def mul(a, b):") && text.contains("+++ b/notes.txt")
                && text.contains("\\ No newline at end of file"))
        #expect(source.message?.hasPrefix("Add mul\n") == true)
        #expect(source.author == "command agent <command@agents.sluice.invalid>")
        // The patch names its task, worker, attempt and epoch.
        let created = try await fixture.engine.events(entityID: patch.description).first
        #expect(created?.payload["task_id"] == .string(task.taskID.description))
        #expect(created?.payload["epoch"] == .number(1))
        let costs = try await fixture.engine.costs.list()
        #expect(costs.count == 1)
        #expect(costs.first?.amount == (try ExactDecimal(parsing: "0.012")))
        #expect(costs.first?.metadata["amount_source"] == .string("reported"))
        #expect(costs.first?.metadata["cached_input_tokens"] == .number(20))
        // The worker counted the task and stopped with the queue drained; the workspace is gone.
        let worker = try #require(try await fixture.engine.workers.list().first)
        #expect(worker.statistics.tasksCompleted == 1 && worker.state == .stopped)
        #expect(AgentWorkspacesProbe.folders(fixture).isEmpty)
        // The landing pipeline lands it.
        let landed = try await fixture.pipeline.run { _ in }
        #expect(landed.landed == [patch.description])
        #expect(try fixture.repository.read("calc.py").contains("def mul"))
    }

    @Test(
        "each way an agent fails fails its task with that reason, and leaves no process behind",
        arguments: [
            (
                "exit1", "echo 'cannot reach the model' >&2; exit 1",
                "the agent exited with 1; stderr: cannot reach the model"
            ),
            ("timeout", "echo working; exec SLEEP", "timeout: the agent ran past 2 s"),
            ("stall", "echo thinking; SLEEP", "stalled: no output and no change in the workspace for 1 s"),
            (
                "loop", "while :; do echo 'retrying the same thing'; sleep 0.001; done",
                "loop: the agent printed the same line"
            ),
            ("sigkill", "echo x > new.txt; kill -9 $$", "the agent was killed by signal 9"),
            ("empty", "echo 'nothing to do'", "empty diff: the agent changed nothing"),
        ])
    func failures(name: String, body: String, reason: String) async throws {
        let fixture = try Fixture()
        let task = try await fixture.task()
        let limits = WatchdogLimits(
            timeoutSeconds: name == "timeout" ? 2 : 60, stallSeconds: name == "stall" ? 1 : 20, burnSeconds: 0,
            loopRepeats: 50)
        // A sleep no other test runs: whether it survives is this case's alone.
        let sleep = "sleep 30.\(Int.random(in: 100_000...999_999))"
        let agent = try fixture.agent(body.replacingOccurrences(of: "SLEEP", with: sleep))
        let (summary, _) = try await fixture.supervise(fixture.options([agent], limits: limits))
        #expect(summary.failed == 1)
        let failed = try await fixture.get(task)
        #expect(failed.state == .failed)
        #expect(failed.reason?.hasPrefix(reason) == true, "\(failed.reason ?? "nil")")
        #expect(Self.processes(holding: agent).isEmpty)
        #expect(Self.processes(holding: sleep).isEmpty)
        let worker = try #require(try await fixture.engine.workers.list().first)
        #expect(worker.statistics.tasksFailed == 1)
        // A failed attempt's workspace is kept for inspection, with the reason.
        let kept = AgentWorkspacesProbe.folders(fixture)
        #expect(kept.count == 1)
        #expect(kept.allSatisfy { FileManager.default.fileExists(atPath: $0 + "/failed") })
    }

    @Test("a running agent is registered as a session leader of ours, so that a gate's sweep of orphans spares it")
    func agentsAreNoOrphans() async throws {
        // `sluice run` adopts orphans and sweeps them after each unsealed gate; an agent leads a session
        // of its own, as a gate's left-overs do, so the sweep must know it. (The sweep itself is not run
        // here: in the test process it would kill whatever else was adopted, a database server too.)
        let fixture = try Fixture()
        let task = try await fixture.task()
        // The agent runs until the test has looked at it (or 120 s pass): a busy machine that leaves
        // this test unscheduled for seconds cannot make it miss the agent. The agent is sealed, so the
        // sign is a file in its workspace, which it removes before it changes anything.
        let agent = try fixture.agent(
            "i=0; while [ ! -e go ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done; rm -f go; echo change > new.txt"
        )
        let ended = Shared(false)
        let run = Task {
            defer { ended.value = true }
            return try await fixture.supervise(fixture.options([agent]))
        }
        let deadline = ContinuousClock.now + .seconds(120)
        var leader: Int32?
        // Until the agent is seen, or the supervisor ended without it (then its events say why).
        while leader == nil, !ended.value, ContinuousClock.now < deadline {
            leader = Self.processes(holding: agent).first { getsid($0) == $0 }
            try await Task.sleep(for: .milliseconds(20))
        }
        let registered = leader.map(OrphanReaper.isLeader)
        if let leader, let workspace = Self.environment(of: leader)["SLUICE_WORKSPACE"] {
            FileManager.default.createFile(atPath: workspace + "/go", contents: nil)
        }
        guard let pid = leader else {
            let outcome =
                ended.value ? (try? await run.value).map { "\($0.0) \($0.1.map(\.message))" } : "still running"
            Issue.record("the agent was not seen as a session leader; the supervisor: \(outcome ?? "threw")")
            run.cancel()
            return
        }
        #expect(registered == true)
        let (summary, events) = try await run.value
        #expect(summary.done == 1, "\(events.map(\.message))")
        #expect(try await fixture.get(task).state == .done)
        #expect(!OrphanReaper.isLeader(pid))
    }

    @Test("a background grandchild the agent leaves is killed with it")
    func grandchild() async throws {
        let fixture = try Fixture()
        let task = try await fixture.task()
        let marker = "\(Int.random(in: 100_000...999_999))"
        let agent = try fixture.agent(
            "(sleep 31.\(marker) &) ; sh -c 'sleep 32.\(marker)' & echo change > new.txt; exit 0")
        let (summary, _) = try await fixture.supervise(fixture.options([agent]))
        #expect(summary.done == 1)
        #expect(try await fixture.get(task).state == .done)
        #expect(Self.processes(holding: "sleep 31.\(marker)").isEmpty)
        #expect(Self.processes(holding: "sleep 32.\(marker)").isEmpty)
    }

    @Test(
        "claude's shapes: a success becomes a patch with each model's cost, priced or reported; error_max_turns fails")
    func claudeShapes() async throws {
        let fixture = try Fixture()
        let good = try await fixture.task("good")
        let bad = try await fixture.task("bad")
        let success =
            #"{"type":"result","subtype":"success","is_error":false,"result":"done","total_cost_usd":0.3,"#
            + #""modelUsage":{"claude-sonnet-4-6":{"inputTokens":31,"outputTokens":2214,"cacheReadInputTokens":187342,"#
            + #""cacheCreationInputTokens":21877,"costUSD":0.25},"claude-haiku-4-5":{"inputTokens":9,"outputTokens":4,"#
            + #""cacheReadInputTokens":0,"cacheCreationInputTokens":0,"costUSD":0.05}}}"#
        let failure =
            #"{"type":"result","subtype":"error_max_turns","is_error":false,"errors":["Reached maximum number of turns (3)"],"#
            + #""modelUsage":{"claude-sonnet-4-6":{"inputTokens":5,"outputTokens":1,"cacheReadInputTokens":0,"#
            + #""cacheCreationInputTokens":0,"costUSD":0.01}}}"#
        // The fake claude gets `-p --output-format json -- PROMPT` appended, as the real one would.
        let agent = try fixture.agent(
            """
            test "$1" = "-p" && test "$2" = "--output-format" && test "$3" = "json" && test "$4" = "--" || exit 7
            if [ "$5" = good ]; then echo change > new.txt; echo '\(success)'; else echo '\(failure)'; exit 1; fi
            """)
        let (summary, _) = try await fixture.supervise(fixture.options([agent], kind: .claude))
        #expect(summary.done == 1 && summary.failed == 1)
        #expect(try await fixture.get(good).state == .done)
        let failed = try await fixture.get(bad)
        #expect(failed.state == .failed)
        #expect(failed.reason?.hasPrefix("max turns reached: Reached maximum number of turns (3)") == true)
        let costs = try await fixture.engine.costs.list()
        #expect(costs.count == 3)
        // claude-haiku-4-5 is in the default price table: 9 × $1 + 4 × $5 per million, what claude
        // reported kept beside it. claude-sonnet-4-6 is not: the reported amounts, marked so.
        let total = try costs.reduce(ExactDecimal.zero) { try $0.adding(try #require($1.amount)) }
        #expect(total == (try ExactDecimal(parsing: "0.260029")))
        let haiku = try #require(costs.first { $0.resourceName == "claude-haiku-4-5" })
        #expect(haiku.amount == (try ExactDecimal(parsing: "0.000029")))
        #expect(haiku.metadata["amount_source"] == .string("priced"))
        #expect(haiku.metadata["price_entry"] == .string("anthropic/claude-haiku-4-5@2025-10-15"))
        #expect(haiku.metadata["reported_amount"] == .string("0.05"))
        // Claude's own figure is far from the price: kept, with the difference, and flagged.
        #expect(haiku.metadata["reported_difference"] == .string("0.049971"))
        #expect(haiku.metadata["reported_disagrees"] == .bool(true))
        #expect(
            haiku.metadata["price_rates"]
                == .object([
                    "input": .string("1"), "cached_input": .string("0.1"), "cache_write": .string("1.25"),
                    "cache_write_1h": .string("2"), "output": .string("5"),
                ]))
        let sonnet = costs.filter { $0.resourceName == "claude-sonnet-4-6" }
        #expect(sonnet.count == 2 && sonnet.allSatisfy { $0.metadata["amount_source"] == .string("reported") })
        #expect(
            sonnet.allSatisfy { $0.metadata["unpriced_reason"]?.stringValue?.contains("no price for model") == true })
    }

    @Test(
        "codex, gemini and aider shapes: a success becomes a patch with its tokens, a failure fails with the agent's reason",
        arguments: [
            (
                AgentKind.codex,
                #"{"type":"turn.completed","usage":{"input_tokens":500,"cached_input_tokens":400,"output_tokens":20}}"#,
                #"{"type":"error","message":"Reconnecting... 1/5"}\n{"type":"turn.failed","error":{"message":"usage limit reached"}}"#,
                "turn failed: usage limit reached", 520 as Int64
            ),
            (
                AgentKind.gemini,
                #"{"response":"ok","stats":{"models":{"gemini-2.5-pro":{"tokens":{"prompt":50,"cached":10,"candidates":5,"thoughts":3,"tool":0}}}}}"#,
                #"{"session_id":"s","response":"","error":{"type":"INVALID_STREAM","message":"bad stream"}}"#,
                "INVALID_STREAM: bad stream", 58 as Int64
            ),
            (
                AgentKind.aider,
                "Main model: m with diff edit format\nTokens: 1.2k sent, 30 received. Cost: $0.01 message, $0.01 session.",
                "litellm.AuthenticationError: bad key",
                "the agent exited with 1", 1230 as Int64
            ),
        ])
    func otherShapes(kind: AgentKind, success: String, failure: String, reason: String, tokens: Int64) async throws {
        let fixture = try Fixture()
        let good = try await fixture.task("good")
        let bad = try await fixture.task("bad")
        let successFile = fixture.agents.file("success-\(UUID().uuidString)")
        let failureFile = fixture.agents.file("failure-\(UUID().uuidString)")
        try success.replacingOccurrences(of: "\\n", with: "\n").write(
            toFile: successFile, atomically: false, encoding: .utf8)
        try failure.replacingOccurrences(of: "\\n", with: "\n").write(
            toFile: failureFile, atomically: false, encoding: .utf8)
        // The fake finds its prompt among the arguments the adapter adds, as the real tool would.
        let agent = try fixture.agent(
            """
            case "$*" in
              *good*) echo change > new.txt; cat '\(successFile)';;
              *) cat '\(failureFile)'; exit 1;;
            esac
            """)
        // The fake's files live under /tmp, which the seal replaces: unsealed here.
        try fixture.repository.commit(["sluice.yml": Self.config + "\nsandbox: none\n"], message: "unsealed")
        let (summary, events) = try await fixture.supervise(fixture.options([agent], kind: kind))
        #expect(summary.done == 1 && summary.failed == 1, "\(events.map(\.message))")
        #expect(try await fixture.get(good).state == .done)
        let failed = try await fixture.get(bad)
        #expect(failed.reason?.hasPrefix(reason) == true, "\(failed.reason ?? "nil")")
        let costs = try await fixture.engine.costs.list()
        let counted = costs.reduce(Int64(0)) { total, cost in
            ["input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens"].reduce(total) {
                $0 + Int64(truncating: NSDecimalNumber(decimal: cost.metadata[$1]?.numberValue ?? 0))
            }
        }
        #expect(counted == tokens)
        // A record whose model no price covers, and whose agent reported no cost, has no amount.
        for cost in costs where cost.metadata["amount_source"] == .string("unpriced") {
            #expect(cost.amount == nil && cost.metadata["unpriced_reason"] != nil)
        }
        if kind == .codex {
            // codex names no model in its events: its usage is unpriced.
            #expect(!costs.isEmpty && costs.allSatisfy(\.isUnpriced))
        }
    }

    @Test("pause stops the agent's processes and resume continues them; the lease stays renewed")
    func pauseAndResume() async throws {
        let fixture = try Fixture()
        let task = try await fixture.task()
        let counter = fixture.agents.file("counter-\(UUID().uuidString)")
        let agent = try fixture.agent(
            """
            i=0
            while [ $i -lt 60 ]; do i=$((i+1)); echo $i > "\(counter)"; echo "tick $i"; sleep 0.1; done
            echo done > result.txt
            """)
        // The counter lives outside the workspace: unsealed, so the test can read it.
        try fixture.repository.commit(["sluice.yml": Self.config + "\nsandbox: none\n"], message: "unsealed")
        let run = Task { try await fixture.supervise(fixture.options([agent])) }
        func count() -> Int {
            Int(
                (try? String(contentsOfFile: counter, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                    ?? "") ?? 0
        }
        while count() < 3 { try await Task.sleep(for: .milliseconds(50)) }
        let worker = try #require(try await fixture.engine.workers.list().first)
        try await fixture.engine.workers.pause(worker.workerID)
        // The supervisor looks at its worker's state every 2 s (later on a busy machine): the counter
        // stops, and stays stopped, before the agent could have finished.
        var paused = count()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(1500))
            let now = count()
            if now == paused { break }
            paused = now
        }
        try await Task.sleep(for: .milliseconds(1000))
        #expect(count() == paused)
        #expect(paused < 60)
        let beat = try await fixture.engine.workers.get(worker.workerID).lastHeartbeat
        try await fixture.engine.workers.resume(worker.workerID)
        let (summary, events) = try await run.value
        #expect(summary.done == 1, "\(events.map(\.message))")
        #expect(count() == 60)
        #expect(try await fixture.get(task).state == .done)
        #expect(try await fixture.engine.workers.get(worker.workerID).lastHeartbeat > beat)
    }

    @Test(
        "a worker's next worktree is made while its agent runs and moved to the head it claims at; none is left after"
    )
    func spareWorktrees() async throws {
        let fixture = try Fixture()
        try fixture.repository.commit(["sluice.yml": Self.config + "\nsandbox: none\n"], message: "unsealed")
        let flag = fixture.agents.file("go-\(UUID().uuidString)")
        let started = fixture.agents.file("started-\(UUID().uuidString)")
        let first = try await fixture.task("First")
        let second = try await fixture.task("Second")
        // The first agent waits for the test; the second notes where it works and what it sees.
        let agent = try fixture.agent(
            """
            if [ "$SLUICE_TASK_ID" = "\(first.taskID)" ]; then
              touch "\(started)"
              while [ ! -f "\(flag)" ]; do sleep 0.05; done
              echo one > one.txt
            else
              { git rev-parse HEAD; cat .git; ls; } > seen.txt
            fi
            """)
        let supervisor = try Supervisor(pipeline: fixture.pipeline, options: fixture.options([agent]))
        let run = Task { try await supervisor.run { _ in } }
        // The first agent runs in the first spare; the next one is made meanwhile (a generous deadline:
        // the whole suite at once on two cores has taken over a minute here).
        let deadline = ContinuousClock.now + .seconds(300)
        func ready() -> Bool { FileManager.default.fileExists(atPath: started) && supervisor.readySpares >= 1 }
        while !ready(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        guard ready() else {
            // Let the first agent finish so that nothing is left running, then fail.
            _ = FileManager.default.createFile(atPath: flag, contents: Data())
            _ = try? await run.value
            Issue.record("no spare worktree was made while the first agent ran")
            return
        }
        let spares = AgentWorkspacesProbe.folders(fixture).filter { $0.contains("/.spares/") }
        #expect(spares.count == 1, "\(spares)")
        let spare = try #require(spares.first)
        // Whatever reaches the spare while it waits (an unsealed agent can write there) is gone when
        // it is adopted: untracked files, and changes to tracked ones.
        try "planted\n".write(toFile: spare + "/planted.txt", atomically: false, encoding: .utf8)
        try "# backdoor\n".write(toFile: spare + "/calc.py", atomically: false, encoding: .utf8)
        // Its `.git` file pointed elsewhere: Sluice's git commands use the git directory it recorded.
        try "gitdir: /nonexistent/elsewhere\n".write(toFile: spare + "/.git", atomically: false, encoding: .utf8)
        // The target branch moves after the spare was made: the second agent starts at the new head.
        try fixture.repository.commit(["later.txt": "later\n"], message: "later")
        let head = try fixture.repository.git("rev-parse", "main").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(FileManager.default.createFile(atPath: flag, contents: Data()))
        let summary = try await run.value
        let reason = try await fixture.get(second).reason
        #expect(summary.done == 2, "\(reason ?? "-")")
        let patch = try #require(try await fixture.get(second).ledgerID)
        let text = String(
            decoding: try #require(try await fixture.engine.context.storage.patchSource(patch)).bytes, as: UTF8.self)
        #expect(text.contains("+" + head), "the second agent's HEAD")
        #expect(text.contains("+later.txt"), "the file of the new head is there")
        #expect(text.contains((spare as NSString).lastPathComponent), "the second agent worked in the spare")
        #expect(!text.contains("+one.txt"), "nothing of the first attempt is left in the spare")
        #expect(!text.contains("planted") && !text.contains("backdoor"), "nothing planted in the spare is left")
        // No workspace, spare or worktree is left.
        #expect(AgentWorkspacesProbe.folders(fixture).isEmpty)
        let worktrees = try fixture.repository.git("worktree", "list", "--porcelain")
        #expect(worktrees.components(separatedBy: "worktree ").count == 2, "\(worktrees)")
    }

    @Test("spare worktrees of a supervisor that is gone are removed by the next one and by worker gc")
    func orphanedSpares() async throws {
        let fixture = try Fixture()
        let workspaces = AgentWorkspaces(pipeline: fixture.pipeline)
        let head = try fixture.repository.git("rev-parse", "main").trimmingCharacters(in: .whitespacesAndNewlines)
        // One of this process (alive) and one named after a process that is gone.
        let mine = try await workspaces.makeSpare(at: head)
        let gone = (workspaces.sparesRoot as NSString).appendingPathComponent("999999999.1-gone")
        _ = try fixture.repository.git("worktree", "add", "--detach", "--quiet", gone, head)
        #expect(try await Supervisor.collectGarbage(pipeline: fixture.pipeline, keeping: 0) == 1)
        #expect(!FileManager.default.fileExists(atPath: gone))
        #expect(FileManager.default.fileExists(atPath: mine.tree + "/calc.py"))
        #expect(!(try fixture.repository.git("worktree", "list")).contains("999999999.1-gone"))
        // A spare git was still making when its supervisor was killed: git's record of it is locked,
        // and its folder gone.
        let killed = (workspaces.sparesRoot as NSString).appendingPathComponent("999999999.1-killed")
        _ = try fixture.repository.git("worktree", "add", "--detach", "--quiet", killed, head)
        _ = try fixture.repository.git("worktree", "lock", "--reason", "initializing", killed)
        try FileManager.default.removeItem(atPath: killed)
        _ = try await Supervisor.collectGarbage(pipeline: fixture.pipeline, keeping: 0)
        #expect(!(try fixture.repository.git("worktree", "list")).contains("999999999.1-killed"))
        await workspaces.discard(mine)
        #expect(AgentWorkspacesProbe.folders(fixture).isEmpty)
    }

    @Test("the claim is heartbeated while its workspace is made: a checkout longer than the lease loses nothing")
    func slowCheckout() async throws {
        let fixture = try Fixture()
        // Each checkout of calc.py takes 25 s (a smudge filter, as LFS has), more than twice the lease
        // (10 s: room for a machine so busy, running the whole suite, that a heartbeat waits seconds
        // for a thread; at 6 s the suite lost the claim on a 2-core machine).
        _ = try fixture.repository.git("config", "filter.slow.smudge", "sleep 25; cat")
        try fixture.repository.commit([".gitattributes": "*.py filter=slow\n"], message: "slow")
        let task = try await fixture.task()
        let agent = try fixture.agent("echo change > new.txt")
        var options = fixture.options([agent])
        options.leaseSeconds = 10
        let (summary, events) = try await fixture.supervise(options)
        #expect(summary.done == 1 && summary.lost == 0 && summary.reaped == 0, "\(events.map(\.message))")
        #expect(try await fixture.get(task).state == .done)
    }

    @Test("an attempt's folder is removed by another clean-up only once the supervisor that made it is gone")
    func attemptsOfLiveSupervisors() async throws {
        let fixture = try Fixture()
        let task = try await fixture.task()
        let workspaces = AgentWorkspaces(pipeline: fixture.pipeline)
        let head = try fixture.repository.git("rev-parse", "main").trimmingCharacters(in: .whitespacesAndNewlines)
        // The task is not running at this epoch (its attempt has just ended), but its maker still runs:
        // the maker archives the logs and removes the folder, not `worker gc`.
        let workspace = try await workspaces.create(task: task.taskID, epoch: 1, at: head, prompt: "p")
        try "the agent's output\n".write(toFile: workspace.stdoutLog, atomically: false, encoding: .utf8)
        #expect(try await Supervisor.collectGarbage(pipeline: fixture.pipeline, keeping: 0) == 0)
        #expect(FileManager.default.fileExists(atPath: workspace.stdoutLog))
        // Its maker gone (killed), the folder is stale.
        try "999999999.1\n".write(toFile: workspace.folder + "/owner", atomically: false, encoding: .utf8)
        #expect(try await Supervisor.collectGarbage(pipeline: fixture.pipeline, keeping: 0) == 1)
        #expect(!FileManager.default.fileExists(atPath: workspace.folder))
    }

    @Test("a worker stopped now loses its claim: its agent is killed, the task requeued, and a late patch refused")
    func stopNowAndZombie() async throws {
        let fixture = try Fixture()
        let task = try await fixture.task()
        let started = fixture.agents.file("started-\(UUID().uuidString)")
        let sleep = "sleep 30.\(Int.random(in: 100_000...999_999))"
        let agent = try fixture.agent("touch '\(started)'; echo change > new.txt; \(sleep)")
        try fixture.repository.commit(["sluice.yml": Self.config + "\nsandbox: none\n"], message: "unsealed")
        let run = Task { try await fixture.supervise(fixture.options([agent])) }
        while !FileManager.default.fileExists(atPath: started) { try await Task.sleep(for: .milliseconds(50)) }
        let worker = try #require(try await fixture.engine.workers.list().first)
        try await fixture.engine.workers.shutdown(worker.workerID)
        let (summary, events) = try await run.value
        #expect(summary.lost == 1)
        #expect(events.contains { $0.kind == .lost })
        #expect(Self.processes(holding: sleep).isEmpty)
        let requeued = try await fixture.get(task)
        #expect(requeued.state == .queued && requeued.crashes.count == 1)
        // The zombie's patch, under the old epoch, is refused and never stored.
        let attempt = TaskAttempt(taskID: task.taskID, epoch: 1, workerID: worker.workerID, attempt: 1)
        await #expect {
            try await fixture.pipeline.submit(Array("diff --git a/x b/x\n".utf8), .init(project: "calc"), for: attempt)
        } throws: { ($0 as? SluiceError)?.code == .lostRace }
        #expect(try await fixture.engine.patches.list().isEmpty)
        let refused = try await fixture.engine.events(entityID: task.taskID.description)
        #expect(refused.contains { $0.payload["operation"] == .string("refused patch") })
    }

    @Test("a task naming another agent is left for it; the supervisor ends when none it can take is left")
    func agentFilter() async throws {
        let fixture = try Fixture()
        let other = try await fixture.task(agent: "claude")
        let mine = try await fixture.task(agent: "command")
        let agent = try fixture.agent("echo change > new.txt")
        let (summary, _) = try await fixture.supervise(fixture.options([agent]))
        #expect(summary.done == 1)
        #expect(try await fixture.get(mine).state == .done)
        #expect(try await fixture.get(other).state == .queued)
    }

    @Test("bad options are refused in words before anything runs")
    func badOptions() throws {
        let fixture = try Fixture()
        for options in [
            SupervisorOptions(agent: .command, command: []),
            SupervisorOptions(agent: .command, command: ["x"], count: 0),
            SupervisorOptions(agent: .command, command: ["x"], heartbeatSeconds: 10, leaseSeconds: 5),
            SupervisorOptions(agent: .command, command: ["x"], limits: WatchdogLimits(loopRepeats: 1)),
        ] {
            #expect(throws: SluiceError.self) { try Supervisor(pipeline: fixture.pipeline, options: options) }
        }
    }
}

/// The attempt folders the supervisor keeps under its scratch directory.
enum AgentWorkspacesProbe {
    /// Attempt folders and spare worktrees in the fixture's scratch directory.
    static func folders(_ fixture: SupervisorTests.Fixture) -> [String] {
        let agents = (fixture.scratch.path as NSString).appendingPathComponent("agents")
        let keys = (try? FileManager.default.contentsOfDirectory(atPath: agents)) ?? []
        func list(_ folder: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).map {
                (folder as NSString).appendingPathComponent($0)
            }
        }
        return keys.flatMap { key in
            list((agents as NSString).appendingPathComponent(key)).flatMap { entry in
                entry.hasSuffix("/.spares") ? list(entry) : [entry]
            }
        }
    }
}
