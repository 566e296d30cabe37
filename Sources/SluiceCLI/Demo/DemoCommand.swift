import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore

/// `sluice demo`: the whole loop on a throwaway repository: tasks, four fake agents run by the
/// supervisor, their patches gated and landed or quarantined.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show the whole loop on a throwaway repository: tasks, four fake agents, gates, landing.",
        discussion: """
            Builds a small Python project (run with sh, git and python3), queues five tasks, and runs them with a \
            built-in fake agent (no model, no network) under the supervisor: one does the work, one breaks a test, \
            one edits sluice.yml to drop its gate, one stalls until the watchdog stops it, and one never starts: \
            its estimate is more than its hard budget. Their patches are gated and landed or quarantined; the \
            ledger, the costs by outcome with the cost per landed patch, and timings are printed at the end. The \
            repository is removed afterwards unless --keep names a folder.
            """)

    @Option(help: "Build the demo repository in this new (or empty) folder and keep it.") var keep: String?
    @Flag(help: "Print the events as JSON Lines.") var json = false

    func run() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let root = try makeFolder()
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: root) } }
        let console = Console.current
        func say(_ text: String) { if !json { console.line(text) } }

        try await git(["init", "--quiet", "--initial-branch=main"], in: root)
        for (path, content) in [
            ("calc.py", DemoProject.calc), ("tests/__init__.py", ""), ("tests/test_calc.py", DemoProject.tests),
            ("tests/run_tests.py", DemoProject.runner), ("sluice.yml", DemoProject.config),
        ] {
            try write(content, to: root, path)
        }
        try await git(["add", "-A"], in: root)
        try await git(["commit", "--quiet", "-m", "A tiny calculator"], in: root)

        let storage = try SQLiteStorage(path: try databasePath(in: root))
        let engine = Engine(EngineContext(storage: storage, actor: "demo"))
        // Workspaces and the agent live beside the repository, in its own scratch folder.
        let scratch = (root as NSString).appendingPathComponent(".sluice/scratch")
        let pipeline = Pipeline(engine: engine, repository: root, scratchDirectory: scratch)
        try pipeline.prepare()
        let agent = (root as NSString).appendingPathComponent(".sluice/demo-agent.py")
        try write(DemoProject.agent, to: root, ".sluice/demo-agent.py")
        chmod(agent, 0o755)
        say("Sluice demo: a throwaway repository at \(root)")
        say("  calc.py and its unit tests; gate \"unit\" runs python3 tests/run_tests.py and reads its JUnit XML")
        say("")
        say("Five tasks, for a built-in fake agent (no model, no network):")
        var names: [TaskID: String] = [:]
        var spender: TaskID?
        for (name, prompt) in DemoProject.tasks {
            var metadata: [String: JSONValue] = [:]
            if name == "agent-spender" {
                metadata[CostEstimate.metadataKey] = try CostEstimate(parsing: DemoProject.spenderEstimate).json
            }
            let task = try await engine.tasks.add(
                TaskRequest(
                    prompt: prompt, projectID: "calc", workstreamID: name, executionRequestID: .make(),
                    metadata: metadata))
            names[task.taskID] = name
            if name == "agent-spender" { spender = task.taskID }
            say("  \(task.taskID)  \(name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(prompt)")
        }
        if let spender {
            try await engine.budgets.set(
                .task(spender), limit: try ExactDecimal(parsing: DemoProject.spenderBudget), hard: true)
            say(
                "  sluice budget set task:\(spender) \(DemoProject.spenderBudget) --hard    "
                    + "(the spender's estimate is \(DemoProject.spenderEstimate) USD)")
        }
        say("")
        say("sluice run --workers 4 --agent command -- demo-agent.py {prompt_file}:")
        OrphanReaper.adoptOrphans()
        let supervisor = try Supervisor(
            pipeline: pipeline,
            options: SupervisorOptions(
                agent: .command, command: [agent, "{prompt_file}"], count: 4, heartbeatSeconds: 1, leaseSeconds: 10,
                limits: WatchdogLimits(timeoutSeconds: 120, stallSeconds: 2, burnSeconds: 0), keepFailed: 0,
                pollSeconds: 0.2, graceSeconds: 1))
        let (summary, tasks) = try await RunCommand.runBoth(pipeline, supervisor, watch: false, json: json)
        say("status: " + (try await engine.status()).line)
        say("")
        say("Tasks:")
        for task in try await engine.tasks.list(TaskFilter(projectID: "calc")).reversed() {
            let outcome =
                task.state == .done ? "done → patch \(task.ledgerID?.description ?? "-")" : task.reason ?? ""
            say(
                "  \(task.taskID)  \((names[task.taskID] ?? "?").padding(toLength: 14, withPad: " ", startingAt: 0)) "
                    + "\(task.state.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)) \(Console.printable(outcome))"
            )
        }
        say("")
        say("Ledger:")
        let entries = try await engine.patches.list(PatchFilter(projectID: "calc")).reversed()
        for entry in entries {
            let reason: String
            switch entry.state {
            case .committed: reason = "landed on main"
            case .quarantined: reason = entry.quarantine.quarantineReason ?? ""
            default: reason = entry.stateHistory.last?.reason ?? ""
            }
            say(
                "  \(entry.ledgerID)  \((entry.workstreamID ?? "?").padding(toLength: 14, withPad: " ", startingAt: 0)) "
                    + "\(entry.state.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(Console.printable(reason))"
            )
        }
        say("")
        say("main now:")
        for line in try await git(["log", "--format=%h %s", "main"], in: root).split(separator: "\n") {
            say("  \(line)")
        }
        say("")
        say("Costs:")
        for row in try await engine.costs.breakdown() {
            say(
                "  \(row.resourceType.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \(row.amount) \(row.currency.code) (\(row.count) records)"
            )
        }
        let outcomes = try await engine.costs.report(by: .outcome)
        say("By outcome (sluice cost report --by outcome):")
        for row in outcomes.rows {
            say(
                "  \((row.key ?? "-").padding(toLength: 13, withPad: " ", startingAt: 0)) \(row.amount) \(row.currency.code) "
                    + "(\(row.records) records)")
        }
        for summary in outcomes.outcomes {
            say(
                "  cost per landed patch: "
                    + (summary.costPerLandedPatch.map { "\($0) \(summary.currency)" } ?? "none landed")
                    + "; \(summary.wastedPercent)% spent on work that did not land")
        }
        if let stop = tasks?.budgetStop { say("Budget: \(Console.printable(stop))") }
        say(
            "Timings: gates \(String(format: "%.2f", summary.gateSeconds)) s, whole demo "
                + "\(String(format: "%.2f", (clock.now - start).inSeconds)) s")
        if let keep { say("kept at \(keep): cd there and try `sluice status`, `sluice task list` or `sluice events`") }
        let expected =
            summary.landed.count == 1 && tasks?.done == 3 && tasks?.failed == 1
            && entries.filter { $0.state == .quarantined }.count == 2
            && tasks?.budgetStop?.contains("task:\(spender?.description ?? "")") == true
        if !expected { throw reportFailure() }
    }

    func makeFolder() throws -> String {
        guard let keep else {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(
                "sluice-demo-\(UUID().uuidString.prefix(8))"
            ).path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return path
        }
        let path = URL(fileURLWithPath: keep).standardizedFileURL.path
        if FileManager.default.fileExists(atPath: path) {
            guard (try FileManager.default.contentsOfDirectory(atPath: path)).isEmpty else {
                throw SluiceError.invalidInput("--keep \(keep): the folder exists and is not empty")
            }
        } else {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        return path
    }

    func databasePath(in root: String) throws -> String {
        let directory = (root as NSString).appendingPathComponent(".sluice")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return (directory as NSString).appendingPathComponent("sluice.db")
    }

    func write(_ content: String, to root: String, _ path: String) throws {
        let url = URL(fileURLWithPath: root).appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(content.utf8).write(to: url)
    }

    @discardableResult
    func git(_ arguments: [String], in directory: String) async throws -> String {
        try await Git(repository: directory).checked(arguments)
    }
}
