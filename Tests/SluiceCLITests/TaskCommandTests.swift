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
        #expect(second.status == 3 && second.stderr.contains("needs idle"))
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
