import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore

/// `sluice demo`: the landing pipeline on a throwaway repository, with four agents' patches.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show the landing pipeline on a throwaway repository: four agents submit, Sluice decides.",
        discussion: """
            Builds a small Python project (run with sh, git and python3), submits one good patch, one that breaks a \
            test, one that edits sluice.yml to drop its gate, and one that conflicts with the good one; runs the \
            pipeline and prints the ledger. The repository is removed afterwards unless --keep names a folder.
            """)

    @Option(help: "Build the demo repository in this new (or empty) folder and keep it.") var keep: String?
    @Flag(help: "Print the pipeline's events as JSON Lines.") var json = false

    func run() async throws {
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
        let pipeline = Pipeline(engine: engine, repository: root)
        try pipeline.prepare()
        say("Sluice demo: a throwaway repository at \(root)")
        say("  calc.py and its unit tests; gate \"unit\" runs python3 tests/run_tests.py and reads its JUnit XML")
        say("")
        say("Four agents submit patches:")
        var agents: [LedgerID: String] = [:]
        for agent in DemoProject.agents {
            let diff = try await diff(of: agent, in: root)
            let entry = try await pipeline.submit(
                diff, .init(project: "calc", workstream: agent.name, message: "\(agent.name): \(agent.intent)"))
            agents[entry.ledgerID] = agent.name
            let verdict =
                entry.state == .quarantined
                ? "rejected (" + entry.validation.validationErrors.joined(separator: "; ") + ")" : entry.state.rawValue
            say(
                "  \(agent.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(agent.intent.padding(toLength: 32, withPad: " ", startingAt: 0)) → \(verdict)"
            )
        }
        say("")
        say("sluice run:")
        OrphanReaper.adoptOrphans()
        let summary = try await pipeline.run { event in
            if event.step == "warning" {
                RunCommand.show(event, json: json)
            } else {
                console.line(json ? ((try? SluiceJSON.line(event)) ?? "{}") : "  " + event.line)
            }
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
                "  \(entry.ledgerID)  \((agents[entry.ledgerID] ?? "?").padding(toLength: 14, withPad: " ", startingAt: 0)) "
                    + "\(entry.state.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(reason)")
        }
        say("")
        say("main now:")
        for line in try await git(["log", "--format=%h %s", "main"], in: root).split(separator: "\n") {
            say("  \(line)")
        }
        let costs = try await engine.costs.total()
        say("")
        say(
            "gate time: \(String(format: "%.2f", summary.gateSeconds)) s; cost "
                + costs.map(\.amount.description).joined() + " USD")
        if let keep { say("kept at \(keep): cd there and try `sluice patch list` or `sluice events`") }
        let expected =
            summary.landed.count == 1 && summary.quarantined.count == 2 && summary.rejected.isEmpty
            && entries.filter { $0.state == .quarantined }.count == 3
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

    /// The agent's change as git would diff it, made in a scratch worktree of the demo repository.
    func diff(of agent: DemoProject.Agent, in root: String) async throws -> [UInt8] {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sluice-agent-\(UUID().uuidString.prefix(8))"
        ).path
        try await git(["worktree", "add", "--detach", "--quiet", scratch, "main"], in: root)
        defer {
            try? FileManager.default.removeItem(atPath: scratch)
        }
        for (path, content) in agent.files { try write(content, to: scratch, path) }
        let bytes = try await PatchCommand.diff(ofWorktree: scratch).bytes
        _ = try? await git(["worktree", "remove", "--force", scratch], in: root)
        return bytes
    }

    @discardableResult
    func git(_ arguments: [String], in directory: String) async throws -> String {
        try await Git(repository: directory).checked(arguments)
    }
}
