import Foundation
import SluiceTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `sluice worker run`, `worker reap` and `run --workers`: the real binary, in separate processes, on a
/// real repository, with fake agents (shell scripts); on SQLite, and on PostgreSQL in CI's second pass.
@Suite("Supervisor commands")
struct SupervisorCommandTests {
    final class Project: Sendable {
        let cli = CLIHarness()
        let repository: TemporaryGitRepository
        let cache = TemporaryDirectory(prefix: "sluice-cache")
        let agents = TemporaryDirectory(prefix: "sluice-agents")

        init(sandbox: String = "auto") throws {
            repository = try TemporaryGitRepository(files: [
                "README.md": "demo\n",
                "sluice.yml": """
                target_branch: main
                gates:
                  - {name: check, type: custom, command: 'exit 0'}
                sandbox: \(sandbox)
                logs: {grace_seconds: 1}

                """,
            ])
        }

        var environment: [String: String] { ["XDG_CACHE_HOME": cache.path] }

        /// `--db` goes before `--`: what follows it is the agent's command.
        func withDatabase(_ arguments: [String]) -> [String] {
            guard let split = arguments.firstIndex(of: "--") else { return arguments + ["--db", cli.database] }
            return Array(arguments[..<split]) + ["--db", cli.database] + Array(arguments[split...])
        }

        /// Runs `sluice` in the repository, on the harness's database.
        @discardableResult
        func sluice(_ arguments: [String]) async throws -> CommandLineProcess.Result {
            try await CommandLineProcess.run(
                withDatabase(arguments), environment: environment, directory: repository.path)
        }

        /// Starts `sluice` without waiting for it.
        func start(_ arguments: [String]) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLineProcess.executable)
            process.arguments = withDatabase(arguments)
            var variables = ProcessInfo.processInfo.environment
            variables.removeValue(forKey: "SLUICE_DB")
            for (key, value) in environment { variables[key] = value }
            process.environment = variables
            process.currentDirectoryURL = URL(fileURLWithPath: repository.path)
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            return process
        }

        func agent(_ body: String) throws -> String {
            let path = agents.file("agent-\(UUID().uuidString)")
            try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: false, encoding: .utf8)
            chmod(path, 0o755)
            return path
        }

        func json(_ arguments: [String]) async throws -> [[String: Any]] {
            let output = try await sluice(arguments + ["--json"])
            #expect(output.status == 0, "\(arguments): \(output.stderr)")
            return try output.stdout.split(separator: "\n").map {
                try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
        }

        func addTasks(_ count: Int, maxAttempts: Int = 3) async throws -> [String] {
            var ids: [String] = []
            for index in 0..<count {
                let output = try await sluice([
                    "task", "add", "Write file \(index)", "--project", "demo", "--max-attempts", "\(maxAttempts)",
                    "--json",
                ])
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any],
                    "\(output.stderr)")
                ids.append(try #require(object["task_id"] as? String))
            }
            return ids
        }
    }

    static func wait(for condition: () throws -> Bool, seconds: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try !condition() {
            guard Date() < deadline else { throw Timeout() }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits for a process on a thread of its own.
    static func exit(of process: Process) async {
        await withCheckedContinuation { done in
            DispatchQueue.global().async {
                process.waitUntilExit()
                done.resume()
            }
        }
    }

    struct Timeout: Error {}

    @Test("4 supervisors in separate processes, 100 tasks: each done exactly once, none lost, statistics add up")
    func fourSupervisors() async throws {
        let project = try Project()
        #expect(try await project.sluice(["init"]).status == 0)
        let ids = try await project.addTasks(100)
        // Each task writes a file of its own: every patch applies, whatever lands first.
        let agent = try project.agent("echo \"$SLUICE_TASK_ID\" > \"done-$SLUICE_TASK_ID.txt\"")
        let supervisors = try (0..<4).map { _ in
            try project.start([
                "worker", "run", "--agent", "command", "--heartbeat", "1", "--lease", "30", "--", agent,
            ])
        }
        for supervisor in supervisors {
            await Self.exit(of: supervisor)
            #expect(supervisor.terminationStatus == 0)
        }
        let tasks = try await project.json(["task", "list"])
        #expect(tasks.count == 100)
        #expect(
            tasks.allSatisfy { $0["state"] as? String == "done" && $0["attempts"] as? Int == 1 },
            "\(tasks.filter { $0["state"] as? String != "done" }.map { $0["reason"] as? String ?? "-" })")
        #expect(Set(tasks.compactMap { $0["task_id"] as? String }) == Set(ids))
        // One patch per task, each naming its task.
        let patches = Set(tasks.compactMap { $0["ledger_id"] as? String })
        #expect(patches.count == 100)
        let workers = try await project.json(["worker", "list"])
        #expect(workers.count == 4)
        var completed = 0
        for worker in workers {
            let shown = try await project.json(["worker", "show", try #require(worker["worker_id"] as? String)])
            completed += (shown.first?["statistics"] as? [String: Any])?["tasks_completed"] as? Int ?? 0
            #expect(shown.first?["state"] as? String == "stopped")
        }
        #expect(completed == 100)
        // Every claim is in the log once per task.
        let claims = try await project.json(["events"]).filter {
            $0["entity_kind"] as? String == "task"
                && ($0["payload"] as? [String: Any])?["operation"] as? String == "claim"
        }
        #expect(claims.count == 100)
        // And the landing pipeline lands them all.
        let run = try await project.sluice(["run"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("summary: 100 landed"))
    }

    @Test(
        "a supervisor killed with SIGKILL: its lease expires, another rescues the task, the zombie's reports are refused"
    )
    func killedSupervisor() async throws {
        let project = try Project(sandbox: "none")
        #expect(try await project.sluice(["init"]).status == 0)
        let id = try #require(try await project.addTasks(1).first)
        let started = project.agents.file("started")
        let marker = "sleep 30.\(Int.random(in: 100_000...999_999))"
        // The first attempt hangs (and would write late); the second finishes at once.
        let agent = try project.agent(
            """
            if [ "$SLUICE_ATTEMPT" = 1 ]; then touch '\(started)'; \(marker); fi
            echo "attempt $SLUICE_ATTEMPT" > rescued.txt
            """)
        let first = try project.start([
            "worker", "run", "--agent", "command", "--heartbeat", "0.5", "--lease", "2", "--", agent,
        ])
        try await Self.wait(for: { FileManager.default.fileExists(atPath: started) })
        kill(first.processIdentifier, SIGKILL)
        await Self.exit(of: first)
        let claimed = try #require(try await project.json(["task", "show", id]).first)
        let zombie = try #require(claimed["worker_id"] as? String)
        #expect(claimed["state"] as? String == "running" && claimed["epoch"] as? Int == 1)
        // The second supervisor's reaper finds the lease expired, and its worker takes the task.
        let second = try await project.sluice([
            "worker", "run", "--agent", "command", "--heartbeat", "0.5", "--lease", "2", "--", agent,
        ])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("reaped: worker \(zombie): lease expired"))
        let task = try #require(try await project.json(["task", "show", id]).first)
        #expect(task["state"] as? String == "done" && task["epoch"] as? Int == 2 && task["attempts"] as? Int == 2)
        let crashes = task["crashes"] as? [[String: Any]] ?? []
        #expect(crashes.count == 1 && (crashes.first?["reason"] as? String)?.contains("lease expired") == true)
        #expect(try await project.json(["worker", "show", zombie]).first?["state"] as? String == "crashed")
        // The first agent, orphaned by the kill, was killed by the rescuer.
        try await Self.wait(for: { SupervisorCommandTests.processes(holding: marker).isEmpty }, seconds: 10)
        // The zombie's late completion and late patch, under epoch 1, are refused and change nothing.
        let late = try await project.sluice(["task", "complete", id, "--epoch", "1"])
        #expect(late.status == 3 && late.stderr.contains("stale"))
        let patch = project.agents.file("late.diff")
        try "--- /dev/null\n+++ b/late.txt\n@@ -0,0 +1 @@\n+late\n".write(
            toFile: patch, atomically: false, encoding: .utf8)
        let latePatch = try await project.sluice([
            "patch", "submit", patch, "--project", "demo", "--task", id, "--epoch", "1", "--worker", zombie,
        ])
        #expect(latePatch.status == 3, "\(latePatch.stderr)")
        #expect(try await project.json(["patch", "list"]).count == 1)
        let log = try await project.json(["events", "--entity", id])
        #expect(log.contains { ($0["payload"] as? [String: Any])?["operation"] as? String == "refused patch" })
        #expect(log.contains { ($0["payload"] as? [String: Any])?["operation"] as? String == "refused complete" })
    }

    @Test("a task that kills its worker every time ends as a poison task after 3 attempts")
    func poisonTask() async throws {
        let project = try Project(sandbox: "none")
        #expect(try await project.sluice(["init"]).status == 0)
        let id = try #require(try await project.addTasks(1).first)
        // Unsealed, the agent's parent is the supervisor: it kills it.
        let agent = try project.agent("kill -9 $PPID; sleep 5")
        // A lease of 3 s: on a busy machine a 1 s lease can lapse under the live supervisor itself.
        for attempt in 1...3 {
            let run = try await project.sluice([
                "worker", "run", "--agent", "command", "--heartbeat", "1", "--lease", "3", "--", agent,
            ])
            #expect(
                run.status == 128 + SIGKILL || run.status == SIGKILL,
                "attempt \(attempt): \(run.status) \(run.stdout) \(run.stderr)")
            try await Task.sleep(for: .milliseconds(3500))
            #expect(try await project.sluice(["worker", "reap", "--lease", "3"]).status == 0)
        }
        let task = try #require(try await project.json(["task", "show", id]).first)
        #expect(task["state"] as? String == "failed")
        #expect((task["reason"] as? String)?.hasPrefix("poison task: 3 attempts ended without an outcome") == true)
        #expect((task["crashes"] as? [Any])?.count == 3)
        #expect(try await project.json(["worker", "list", "--state", "crashed"]).count == 3)
    }

    @Test("sluice run --workers 3 with a fake agent on a real repository: tasks become landed commits")
    func runWithWorkers() async throws {
        let project = try Project()
        #expect(try await project.sluice(["init"]).status == 0)
        _ = try await project.addTasks(5)
        let agent = try project.agent("echo \"$SLUICE_TASK_ID\" > \"task-$SLUICE_TASK_ID.txt\"")
        let before = try project.repository.git("rev-list", "--count", "main")
        let run = try await project.sluice(["run", "--workers", "3", "--agent", "command", "--", agent])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("tasks: 5 done, 0 failed"))
        #expect(run.stdout.contains("summary: 5 landed, 0 quarantined, 0 rejected"))
        let after = try project.repository.git("rev-list", "--count", "main")
        #expect(Int(after) == Int(before)! + 5)
        let files = try project.repository.git("ls-tree", "--name-only", "main").split(separator: "\n")
        #expect(files.filter { $0.hasPrefix("task-") }.count == 5)
        // The landed commits are the agents': authored by the agent, named by the task.
        let authors = try project.repository.git("log", "-5", "--format=%an", "main").split(separator: "\n")
        #expect(authors.allSatisfy { $0 == "command agent" })
        // `sluice status` shows the same picture once.
        let status = try #require(try await project.json(["status"]).first)
        #expect((status["tasks"] as? [String: Any])?["done"] as? Int == 5)
        #expect((status["patches"] as? [String: Any])?["committed"] as? Int == 5)
        #expect((status["workers"] as? [String: Any])?["stopped"] as? Int == 3)
    }

    @Test("sluice run --workers exits 1 when a task failed, as worker run does, and lands the rest")
    func runWithAFailedTask() async throws {
        let project = try Project(sandbox: "none")
        #expect(try await project.sluice(["init"]).status == 0)
        _ = try await project.addTasks(2)
        // The first task the agent sees fails; the other becomes a patch.
        let marker = project.agents.file("failed-once")
        let agent = try project.agent(
            "if [ ! -e '\(marker)' ]; then touch '\(marker)'; echo broken >&2; exit 3; fi\n"
                + "echo ok > \"task-$SLUICE_TASK_ID.txt\"")
        let run = try await project.sluice(["run", "--workers", "1", "--agent", "command", "--", agent])
        #expect(run.status == 1, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("tasks: 1 done, 1 failed"), "\(run.stdout)")
        #expect(run.stdout.contains("summary: 1 landed, 0 quarantined, 0 rejected"), "\(run.stdout)")
    }

    @Test("a hard budget stops new work: the task it cannot cover stays queued, and the run says which budget")
    func budgetStopsWork() async throws {
        let project = try Project(sandbox: "none")
        #expect(try await project.sluice(["init"]).status == 0)
        let budget = try await project.sluice(["budget", "set", "project:demo", "0.05", "--hard"])
        #expect(budget.status == 0, "\(budget.stderr)")
        var tasks: [String] = []
        for index in 0..<3 {
            let added = try await project.json([
                "task", "add", "Write file \(index)", "--project", "demo", "--estimate", "0.02",
            ])
            tasks.append(try #require(added.first?["task_id"] as? String))
        }
        // Each attempt reports 0.03 USD, more than its estimate: the second still fits (0.03 + 0.02), the third not.
        let agent = try project.agent(
            "echo \"$SLUICE_TASK_ID $SLUICE_BUDGET_LEFT_USD\" > \"f-$SLUICE_TASK_ID.txt\"\n"
                + #"echo '{"usage": {"model": "unknown-model", "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.03}}'"#
        )
        let run = try await project.sluice(["run", "--workers", "1", "--agent", "command", "--", agent])
        #expect(run.status == 1, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("tasks: 2 done, 0 failed"), "\(run.stdout)")
        #expect(
            run.stdout.contains(
                "budget: stopped on budget: hard budget project:demo (0.05 USD) cannot cover task \(tasks[2])"),
            "\(run.stdout)")
        #expect(run.stdout.contains("stopped on budget: hard budget project:demo"), "\(run.stdout)")
        #expect(run.stdout.contains("summary: 2 landed"), "\(run.stdout)")
        // Each agent was told what the budget left it: all of it, then 0.05 less the first's 0.03.
        #expect(try project.repository.git("show", "main:f-\(tasks[0]).txt") == "\(tasks[0]) 0.05")
        #expect(try project.repository.git("show", "main:f-\(tasks[1]).txt") == "\(tasks[1]) 0.02")
        let left = try await project.json(["task", "list", "--state", "queued"])
        #expect(left.compactMap { $0["task_id"] as? String } == [tasks[2]])
        let shown = try #require(try await project.json(["budget", "show", "project:demo"]).first)
        let status = try #require(shown["budget"] as? [String: Any])
        #expect(status["committed"] as? Double == 0.06)
        #expect(status["held"] as? Double == 0)
        let reasons = try await project.json(["events", "--entity", tasks[2]]).compactMap { $0["reason"] as? String }
        #expect(reasons.contains { $0.contains("0.06 committed + 0 held + estimate 0.02 > 0.05") }, "\(reasons)")
    }

    @Test("usage no price covers, with no cost reported, has no amount; the budget counts the estimate in its place")
    func unpricedUsage() async throws {
        let project = try Project(sandbox: "none")
        #expect(try await project.sluice(["init"]).status == 0)
        #expect(try await project.sluice(["budget", "set", "project:demo", "1", "--hard"]).status == 0)
        let added = try await project.json(["task", "add", "Write a file", "--project", "demo", "--estimate", "0.4"])
        let task = try #require(added.first?["task_id"] as? String)
        // Unreadable figures are not a price of zero: the cost is unknown.
        let agent = try project.agent(
            "echo x > f.txt\n"
                + #"echo '{"usage": {"model": "unknown-model", "input_tokens": 10, "output_tokens": 5, "cost_usd": "lots"}}'"#
        )
        let run = try await project.sluice(["run", "--workers", "1", "--agent", "command", "--", agent])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        // The agent's usage, beside the gate's time.
        let costs = try await project.json(["cost", "list", "--type", "api_call"])
        #expect(costs.count == 1)
        let cost = try #require(costs.first)
        #expect(cost["amount"] is NSNull, "\(cost)")
        let metadata = try #require(cost["metadata"] as? [String: Any])
        #expect(metadata["amount_source"] as? String == "unpriced")
        let shown = try await project.sluice(["cost", "show", try #require(cost["cost_id"] as? String)]).stdout
        #expect(shown.contains("unpriced"), "\(shown)")
        let table = try await project.sluice(["cost", "list"]).stdout
        #expect(table.contains("unpriced"), "\(table)")
        let status = try #require(
            try await project.json(["budget", "show", "project:demo"]).first?["budget"] as? [String: Any])
        #expect(status["committed"] as? Double == 0.4 && status["held"] as? Double == 0, "\(status)")
        let report = try await project.json(["cost", "report", "--by", "resource_type"])
        let calls = try #require(report.first { $0["key"] as? String == "api_call" })
        #expect(calls["unpriced"] as? Int == 1 && calls["amount"] as? Double == 0, "\(report)")
        let reasons = try await project.json(["events", "--entity", "project:demo"]).compactMap {
            $0["reason"] as? String
        }
        #expect(
            reasons.contains { $0.contains("is unpriced") && $0.contains("0.4 USD, counted in its place") },
            "\(reasons)")
        #expect(try await project.json(["task", "show", task]).first?["state"] as? String == "done")
    }

    @Test("a reported cost of 0 for tokens spent, and no usage at all, are unpriced: the held estimate counts")
    func zeroAndSilentAreNotFree() async throws {
        let project = try Project(sandbox: "none")
        #expect(try await project.sluice(["init"]).status == 0)
        #expect(try await project.sluice(["budget", "set", "project:demo", "1", "--hard"]).status == 0)
        for prompt in ["zero cost", "silent"] {
            _ = try await project.json(["task", "add", prompt, "--project", "demo", "--estimate", "0.3"])
        }
        let agent = try project.agent(
            "echo x > \"f-$SLUICE_TASK_ID.txt\"\n"
                + "if grep -q zero \"$SLUICE_PROMPT_FILE\"; then echo "
                + #"'{"usage": {"model": "unknown-model", "input_tokens": 1000, "output_tokens": 5, "cost_usd": 0}}'"#
                + "; fi")
        let run = try await project.sluice(["run", "--workers", "1", "--agent", "command", "--", agent])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let costs = try await project.json(["cost", "list", "--type", "api_call"])
        #expect(costs.count == 2 && costs.allSatisfy { $0["amount"] is NSNull }, "\(costs)")
        let reasons = costs.compactMap { ($0["metadata"] as? [String: Any])?["unpriced_reason"] as? String }
        #expect(reasons.contains { $0.contains("reported a cost of 0 for 1005 tokens") }, "\(reasons)")
        #expect(reasons.contains { $0.contains("reported no usage") }, "\(reasons)")
        // Totals and the status say there is spend they cannot count, rather than showing it as 0.
        let total = try await project.sluice(["cost", "total", "--type", "api_call"])
        #expect(total.stdout.contains("of which 2 unpriced"), "\(total.stdout)")
        let totals = try await project.json(["cost", "total", "--type", "api_call"])
        #expect(totals.count == 1 && totals.first?["unpriced"] as? Int == 2 && totals.first?["count"] as? Int == 2)
        // A request's total cannot tell from the running sums: the field is left out, not 0.
        let request = try #require(try await project.json(["task", "list"]).first?["execution_request_id"] as? String)
        let unknown = try await project.json(["cost", "total", "--request", request])
        #expect(!unknown.isEmpty && unknown.allSatisfy { $0["unpriced"] == nil && $0["currency"] != nil }, "\(unknown)")
        #expect(try await project.sluice(["status"]).stdout.contains("and 2 unpriced"))
        #expect(try await project.json(["status"]).first?["unpriced"] as? Int == 2)
        let status = try #require(
            try await project.json(["budget", "show", "project:demo"]).first?["budget"] as? [String: Any])
        #expect(status["committed"] as? Double == 0.6 && status["held"] as? Double == 0, "\(status)")
    }

    @Test("claude's own --max-budget-usd is what a task without an estimate holds")
    func agentCapIsTheEstimate() async throws {
        let project = try Project(sandbox: "none")
        #expect(try await project.sluice(["init"]).status == 0)
        #expect(try await project.sluice(["budget", "set", "project:demo", "0.2", "--hard"]).status == 0)
        let added = try await project.json(["task", "add", "Write a file", "--project", "demo"])
        let task = try #require(added.first?["task_id"] as? String)
        let agent = try project.agent("echo x > f.txt")
        let run = try await project.sluice([
            "worker", "run", "--agent", "claude", "--", agent, "--max-budget-usd", "0.3",
        ])
        #expect(run.status == 1, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("estimate 0.3 > 0.2"), "\(run.stdout)")
        #expect(try await project.json(["task", "show", task]).first?["state"] as? String == "queued")
    }

    @Test("back-to-back attempts shorter than a heartbeat keep the worker's lease: no supervisor reaps its own worker")
    func shortAttemptsKeepTheLease() async throws {
        let project = try Project(sandbox: "none")
        #expect(try await project.sluice(["init"]).status == 0)
        _ = try await project.addTasks(20)
        let agent = try project.agent("sleep 0.2; echo \"$SLUICE_TASK_ID\" > \"f-$SLUICE_TASK_ID.txt\"")
        let start = Date()
        let run = try await project.sluice([
            "worker", "run", "--agent", "command", "--heartbeat", "0.5", "--lease", "3", "--", agent,
        ])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("tasks: 20 done, 0 failed, 0 lost; 0 workers reaped"), "\(run.stdout)")
        // Longer than the lease: without heartbeats between attempts, the worker would have been reaped.
        #expect(Date().timeIntervalSince(start) > 3)
    }

    @Test("worker run refuses bad input in words, and changes nothing")
    func badInput() async throws {
        let project = try Project()
        #expect(try await project.sluice(["init"]).status == 0)
        for arguments in [
            ["worker", "run"], ["worker", "run", "--agent", "robot"], ["worker", "run", "--agent", "command"],
            ["worker", "run", "--agent", "claude", "--heartbeat", "10", "--lease", "5"],
            ["worker", "run", "--agent", "claude", "--stall=-1"], ["run", "--agent", "claude"],
        ] {
            let output = try await project.sluice(arguments)
            #expect(output.status == 64, "\(arguments): \(output.status) \(output.stderr)")
            #expect(output.stderr.hasPrefix("error: "), "\(arguments): \(output.stderr)")
        }
        #expect(try await project.json(["worker", "list"]).isEmpty)
    }

    static func processes(holding marker: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
            guard let pid = Int32(name), let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline"),
                String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(marker)
            else { return nil }
            return pid
        }
    }
}
