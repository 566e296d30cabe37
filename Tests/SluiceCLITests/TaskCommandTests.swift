import Foundation
import SluiceTesting
import Testing

/// `sluice task …`, in process, on SQLite (and on PostgreSQL in CI's second pass).
@Suite("Task commands")
struct TaskCommandTests {
    @Test("add, claim, complete: the epoch a claim prints is the one its reports must carry")
    func lifecycle() async throws {
        let cli = await CLIHarness().initialise()
        let low = try await cli.object(["task", "add", "tidy the docs", "--project", "demo"])
        let high = try await cli.object(["task", "add", "fix the bug", "--project", "demo", "--priority", "7"])
        #expect(low["state"] as? String == "queued" && high["priority"] as? Int == 7)
        let worker = try await cli.object(["worker", "create", "--type", "executor"])["worker_id"] as? String ?? ""
        let claimed = try await cli.object(["task", "claim", "--worker", worker])
        #expect(claimed["task_id"] as? String == high["task_id"] as? String)
        #expect(claimed["epoch"] as? Int == 1 && claimed["state"] as? String == "running")
        let id = claimed["task_id"] as? String ?? ""
        // A report under another epoch is refused (exit 3), changes nothing, and is logged.
        let stale = await cli.run(["task", "complete", id, "--epoch", "0"])
        #expect(stale.status == 3 && stale.stderr.contains("stale"))
        #expect(try await cli.object(["task", "show", id])["state"] as? String == "running")
        let log = try await cli.run(["events", "--entity", id, "--json"]).lines()
        #expect(log.contains { ($0["payload"] as? [String: Any])?["operation"] as? String == "refused complete" })
        // The worker holds the task while it runs: it cannot claim another.
        let busy = try await cli.object(["worker", "show", worker])
        #expect(busy["state"] as? String == "busy" && busy["current_task_id"] as? String == id)
        let second = await cli.run(["task", "claim", "--worker", worker])
        #expect(second.status == 3 && second.stderr.contains("only an idle worker claims a task"))
        let done = try await cli.object(["task", "complete", id, "--epoch", "1"])
        #expect(done["state"] as? String == "done" && done["worker_id"] as? String == worker)
        // Done in the same unit: the worker is idle again, the task counted.
        let idle = try await cli.object(["worker", "show", worker])
        #expect(idle["state"] as? String == "idle")
        #expect((idle["statistics"] as? [String: Any])?["tasks_completed"] as? Int == 1)
        // The other task, then nothing left: exit 4; an unknown worker: exit 4 too.
        let other = try await cli.object(["task", "claim", "--worker", worker])
        #expect(other["task_id"] as? String == low["task_id"] as? String)
        _ = try await cli.object([
            "task", "fail", low["task_id"] as? String ?? "", "--epoch", "1", "--reason", "exit 1",
        ])
        let after = try await cli.object(["worker", "show", worker])
        #expect((after["statistics"] as? [String: Any])?["tasks_failed"] as? Int == 1)
        let none = await cli.run(["task", "claim", "--worker", worker])
        #expect(none.status == 4 && none.stderr.contains("no task is queued"), "\(none.status) \(none.stderr)")
        #expect(await cli.run(["task", "claim", "--worker", "01J00000000000000000000000"]).status == 4)
        #expect(try await cli.run(["task", "list", "--state", "failed", "--json"]).lines().count == 1)
        let listed = try await cli.run(["task", "list", "--state", "done", "--json"]).lines()
        #expect(listed.map { $0["task_id"] as? String } == [id])
        let exported = try await cli.run(["export", "--kind", "tasks"]).lines()
        #expect(exported.count == 2)
    }

    @Test("a prompt comes from the argument or from --file (- is standard input), never both")
    func prompts() async throws {
        let cli = await CLIHarness().initialise()
        let file = cli.directory.file("prompt.md")
        try "# Task\n\nAdd mul().\n".write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try await cli.object(["task", "add", "--file", file])
        #expect(fromFile["prompt"] as? String == "# Task\n\nAdd mul().\n")
        let fromInput = try await cli.object(["task", "add", "--file", "-"], input: "from standard input\n")
        #expect(fromInput["prompt"] as? String == "from standard input\n")
        for arguments in [["task", "add"], ["task", "add", "x", "--file", file]] {
            let output = await cli.run(arguments)
            #expect(output.status == 64 && output.stderr.contains("one of the two"), "\(arguments)")
        }
        #expect(try await cli.run(["task", "list", "--json"]).lines().count == 2)
    }

    @Test(
        "bad input is refused with exit 64 and stores nothing",
        arguments: [
            (["task", "add", "x", "--priority", "1001"], "priority must be from -1000 to 1000"),
            (["task", "add", "x", "--max-attempts", "0"], "max attempts must be from 1 to 100"),
            (["task", "add", "   "], "prompt must not be empty"),
            (["task", "add", "x", "--request", "nope"], "not a ULID"),
            (["task", "list", "--state", "sleeping"], "--state"),
            (["task", "show", "xyz"], "invalid task id"),
            (["task", "claim", "--worker", "xyz"], "invalid worker id"),
        ])
    func badInput(arguments: [String], words: String) async throws {
        let cli = await CLIHarness().initialise()
        let output = await cli.run(arguments)
        #expect(output.status == 64, "\(output.stderr)")
        #expect(output.stderr.contains(words), "\(output.stderr)")
        #expect(try await cli.run(["task", "list", "--json"]).lines().isEmpty)
    }

    @Test("requeues count attempts; the last one fails the task as a poison task with its history")
    func poison() async throws {
        let cli = await CLIHarness().initialise()
        let id =
            try await cli.object(["task", "add", "crashes its worker", "--max-attempts", "2"])["task_id"] as? String
        let worker = try await cli.object(["worker", "create", "--type", "executor"])["worker_id"] as? String ?? ""
        for epoch in 1...2 {
            let claimed = try await cli.object(["task", "claim", "--worker", worker])
            #expect(claimed["task_id"] as? String == id && claimed["epoch"] as? Int == epoch)
            _ = try await cli.object(["task", "requeue", id ?? "", "--epoch", "\(epoch)", "--reason", "worker lost"])
        }
        let task = try await cli.object(["task", "show", id ?? ""])
        #expect(task["state"] as? String == "failed")
        #expect((task["reason"] as? String)?.hasPrefix("poison task: 2 attempts") == true)
        #expect((task["crashes"] as? [[String: Any]])?.count == 2)
        #expect(await cli.run(["task", "claim", "--worker", worker]).status == 4)
    }

    @Test("worker stop lets a worker running a task of the queue finish it; --now stops it and gives the attempt back")
    func gracefulStop() async throws {
        let cli = await CLIHarness().initialise()
        let (id, worker) = try await claimed(cli)
        let asked = try await cli.object(["worker", "stop", worker])
        #expect(asked["state"] as? String == "busy")
        #expect((asked["metadata"] as? [String: Any])?["stop_requested"] as? Bool == true)
        #expect(try await cli.object(["task", "show", id])["state"] as? String == "running")
        let stopped = try await cli.object(["worker", "stop", worker, "--now"])
        #expect(stopped["state"] as? String == "stopped")
        let task = try await cli.object(["task", "show", id])
        // A stop is not the task's failure: the attempt is given back, the stop kept in the history.
        #expect(task["state"] as? String == "queued" && task["attempts"] as? Int == 0)
        #expect((task["crashes"] as? [[String: Any]])?.first?["reason"] as? String == "worker stopped")
    }

    /// Adds a task, makes a worker and claims the task for it: (task id, worker id).
    func claimed(_ cli: CLIHarness) async throws -> (String, String) {
        let id = try await cli.object(["task", "add", "x"])["task_id"] as? String ?? ""
        let worker = try await cli.object(["worker", "create", "--type", "executor"])["worker_id"] as? String ?? ""
        _ = try await cli.object(["task", "claim", "--worker", worker])
        return (id, worker)
    }

    @Test("a worker that crashes or stops with a running task sends it back to the queue; its late report is refused")
    func workerLost() async throws {
        for verb in [["crash", "--error", "out of memory"], ["stop", "--now"]] {
            let cli = await CLIHarness().initialise()
            let (id, worker) = try await claimed(cli)
            _ = try await cli.object(["worker", verb[0], worker] + verb.dropFirst())
            let task = try await cli.object(["task", "show", id])
            #expect(task["state"] as? String == "queued" && task["epoch"] as? Int == 1, "\(verb)")
            #expect((task["crashes"] as? [[String: Any]])?.first?["worker_id"] as? String == worker)
            // The lost worker's agent reports under epoch 1 after a new claim (epoch 2): refused, logged.
            let other = try await cli.object(["worker", "create", "--type", "executor"])["worker_id"] as? String ?? ""
            #expect(try await cli.object(["task", "claim", "--worker", other])["epoch"] as? Int == 2)
            #expect(await cli.run(["task", "complete", id, "--epoch", "1"]).status == 3)
            let log = try await cli.run(["events", "--entity", id, "--json"]).lines()
            let refused = log.compactMap { $0["payload"] as? [String: Any] }.first {
                $0["operation"] as? String == "refused complete"
            }
            #expect(refused?["epoch"] as? Int == 1)
        }
    }

    @Test("a paused worker is freed when its task ends; worker commands cannot move a task of the queue")
    func workerCommands() async throws {
        let cli = await CLIHarness().initialise()
        let (id, worker) = try await claimed(cli)
        let complete = await cli.run(["worker", "complete", worker])
        #expect(complete.status == 64 && complete.stderr.contains("task complete"), "\(complete.stderr)")
        let queued = try await cli.object(["task", "add", "y"])["task_id"] as? String ?? ""
        let other = try await cli.object(["worker", "create", "--type", "executor"])["worker_id"] as? String ?? ""
        let assign = await cli.run(["worker", "assign", other, "--task", queued])
        #expect(assign.status == 64 && assign.stderr.contains("task claim"), "\(assign.stderr)")
        _ = try await cli.object(["worker", "pause", worker])
        _ = try await cli.object(["task", "complete", id, "--epoch", "1"])
        let freed = try await cli.object(["worker", "show", worker])
        #expect(freed["state"] as? String == "idle" && freed["current_task_id"] is NSNull)
        #expect((freed["statistics"] as? [String: Any])?["tasks_completed"] as? Int == 1)
    }

    @Test("a patch named on completion must exist; a late report after a cancel is refused as stale and logged")
    func completionChecks() async throws {
        let cli = await CLIHarness().initialise()
        let (id, _) = try await claimed(cli)
        let missing = await cli.run(["task", "complete", id, "--epoch", "1", "--patch", "01ARZ3NDEKTSV4RRFFQ69G5FAV"])
        #expect(missing.status == 4 && missing.stderr.contains("patch"), "\(missing.stderr)")
        #expect(try await cli.object(["task", "show", id])["state"] as? String == "running")
        _ = try await cli.object(["task", "cancel", id])
        let late = await cli.run(["task", "complete", id, "--epoch", "1"])
        #expect(late.status == 3 && late.stderr.contains("stale"), "\(late.stderr)")
        let log = try await cli.run(["events", "--entity", id, "--json"]).lines()
        #expect(log.contains { ($0["payload"] as? [String: Any])?["operation"] as? String == "refused complete" })
    }

    @Test("a prompt with a NUL byte, and fields with control characters, are refused and nothing is stored")
    func textChecks() async throws {
        let cli = await CLIHarness().initialise()
        let file = cli.directory.file("nul.txt")
        try Data("hello\u{0}world\n".utf8).write(to: URL(fileURLWithPath: file))
        for arguments in [
            ["task", "add", "--file", file], ["task", "add", "x", "--project", "a\nb"],
            ["task", "add", "x", "--agent", "bogus"], ["task", "add", "x", "--branch", "../../etc"],
            ["task", "add", "x", "--branch", "-rf"],
        ] {
            let output = await cli.run(arguments)
            #expect(output.status == 64, "\(arguments): \(output.stderr)")
        }
        #expect(try await cli.run(["task", "list", "--json"]).lines().isEmpty)
        #expect(
            try await cli.object(["task", "add", "x", "--agent", "claude", "--branch", "feature/x-1"])["agent"]
                as? String == "claude")
    }

    @Test("a prompt's terminal escapes are printed escaped in tables, and kept exact in JSON")
    func escapes() async throws {
        let cli = await CLIHarness().initialise()
        let prompt = "clear \u{1B}[2J the screen"
        let id = try await cli.object(["task", "add", prompt])["task_id"] as? String ?? ""
        for arguments in [["task", "show", id], ["task", "list"]] {
            let output = await cli.run(arguments)
            #expect(!output.stdout.contains("\u{1B}") && output.stdout.contains("\\u{1B}"), "\(arguments)")
        }
        #expect(try await cli.object(["task", "show", id])["prompt"] as? String == prompt)
        // Every table and record prints escaped, whoever wrote the text: here a cost's resource name,
        // which an agent's usage report sets as its model.
        let cost =
            try await cli.object([
                "cost", "record", "--type", "api_call", "--amount", "0", "--resource", "model\n\u{1B}[2J",
            ])["cost_id"] as? String ?? ""
        let shown = await cli.run(["cost", "show", cost])
        #expect(!shown.stdout.contains("\u{1B}") && shown.stdout.contains("model\\n\\u{1B}"), "\(shown.stdout)")
    }

    @Test("cancel ends a running task's claim; a finished task cannot be cancelled")
    func cancel() async throws {
        let cli = await CLIHarness().initialise()
        let id = try await cli.object(["task", "add", "x"])["task_id"] as? String ?? ""
        let worker = try await cli.object(["worker", "create", "--type", "executor"])["worker_id"] as? String ?? ""
        _ = try await cli.object(["task", "claim", "--worker", worker])
        let cancelled = try await cli.object(["task", "cancel", id])
        #expect(cancelled["state"] as? String == "cancelled" && cancelled["epoch"] as? Int == 2)
        let late = await cli.run(["task", "fail", id, "--epoch", "1", "--reason", "exit 1"])
        #expect(late.status == 3)
        let again = await cli.run(["task", "cancel", id])
        #expect(again.status == 3 && again.stderr.contains("cancel needs queued or running"))
        #expect(await cli.run(["task", "show", "01J00000000000000000000000"]).status == 4)
    }
}

/// DESIGN.md: with `--json`, errors are JSON too.
@Suite("Errors with --json")
struct JSONErrorTests {
    @Test(
        "every kind of error is one JSON object on standard error, with the exit code it always had",
        arguments: [
            (["task", "show", "xyz"], "invalid_input", 64),
            (["task", "show", "01J00000000000000000000000"], "not_found", 4),
            (["task", "list", "--state"], "usage", 64),
            (["worker", "frobnicate"], "usage", 64),
        ])
    func jsonErrors(arguments: [String], code: String, status: Int32) async throws {
        let cli = await CLIHarness().initialise()
        let output = await cli.run(arguments + ["--json"])
        #expect(output.status == status, "\(output.stderr)")
        #expect(output.stdout.isEmpty)
        let object = try JSONSerialization.jsonObject(with: Data(output.stderr.utf8)) as? [String: Any]
        let error = try #require(object?["error"] as? [String: Any], "\(output.stderr)")
        #expect(error["code"] as? String == code)
        #expect((error["message"] as? String)?.isEmpty == false)
        // Without --json, the same error is one sentence.
        let plain = await cli.run(arguments)
        #expect(plain.status == status && !plain.stderr.hasPrefix("{"))
    }

    @Test("an invalid transition under --json names its code")
    func transition() async throws {
        let cli = await CLIHarness().initialise()
        let id = try await cli.object(["task", "add", "x"])["task_id"] as? String ?? ""
        let early = await cli.run(["task", "complete", id, "--epoch", "1", "--json"])
        #expect(early.status == 3 && early.stderr.contains("no claim of epoch 1 was made"), "\(early.stderr)")
        #expect(early.stderr.contains("\"code\":\"lost_race\""), "\(early.stderr)")
        let worker = try await cli.object(["worker", "create", "--type", "executor"])["worker_id"] as? String ?? ""
        _ = try await cli.object(["task", "claim", "--worker", worker])
        _ = try await cli.object(["task", "complete", id, "--epoch", "1"])
        // The same report twice: the epoch holds, the state does not.
        let output = await cli.run(["task", "complete", id, "--epoch", "1", "--json"])
        #expect(output.status == 3)
        #expect(output.stderr.contains("\"code\":\"invalid_transition\""), "\(output.stderr)")
    }
}
