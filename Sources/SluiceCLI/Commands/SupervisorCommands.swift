import ArgumentParser
import Dispatch
import Foundation
import SluiceCore
import SluiceEngine

/// The options `sluice worker run` and `sluice run --workers` share: the agent, its command, and the
/// supervisor's limits (each defaults to `workers:` in `sluice.yml`, then to Sluice's default).
struct AgentOptions: ParsableArguments {
    @Option(help: "The agent: aider, claude, codex, gemini, or command (any program, given after --).")
    var agent: String?
    @Option(help: "Seconds between heartbeats (default 10).") var heartbeat: String?
    @Option(help: "Seconds a worker's lease lasts without a heartbeat (default 45).") var lease: String?
    @Option(help: "Seconds an agent may run, paused time not counted; 0: no limit (default 3600).")
    var timeout: String?
    @Option(help: "Seconds without output or workspace change before an agent is stopped; 0: off (default 300).")
    var stall: String?
    @Option(help: "Seconds of tokens spent with no workspace change before an agent is stopped; 0: off (default 900).")
    var burn: String?
    @Option(help: "Repeats of the same line (or block of up to 8) that count as a loop; 0: off (default 50).")
    var loopRepeats: Int?
    @Option(help: "Failed attempts' workspaces kept for inspection (default 5).") var keepFailed: Int?
    @Option(help: "Agents running at once for one project, across supervisors.") var maxRunning: Int?
    @Option(help: "Only tasks of this project.") var project: String?
    @Flag(help: "Cut a sealed agent off the network (its model's API too).") var noNetwork = false
    @Argument(
        parsing: .postTerminator,
        help: ArgumentHelp(
            "After --: the agent's command. For --agent command, the whole line, with {prompt}, {prompt_file}, "
                + "{workspace} and {task_id} replaced; for the others, the program to run instead of its name."))
    var command: [String] = []

    /// The supervisor's options: these flags over `sluice.yml`'s `workers:` over the defaults.
    func options(count: Int, watch: Bool, config: SluiceConfig) throws -> SupervisorOptions {
        guard let agent else {
            throw SluiceError.invalidInput(
                "--agent is required: one of \(AgentKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let kind: AgentKind = try Parse.enumeration(agent, option: "--agent")
        let defaults = config.workers
        // The agent starts in its workspace: a program named relative to here is made absolute.
        var command = self.command
        if let program = command.first, program.contains("/"), !program.hasPrefix("/") {
            command[0] =
                URL(fileURLWithPath: program, relativeTo: URL(fileURLWithPath: GlobalOptions.currentDirectory))
                .standardizedFileURL.path
        }
        func seconds(_ text: String?, _ option: String, _ fallback: Double) throws -> Double {
            try text.map { try Parse.seconds($0, option: option, maximum: 7 * 86_400) } ?? fallback
        }
        return try SupervisorOptions(
            agent: kind, command: command, count: count,
            heartbeatSeconds: seconds(heartbeat, "--heartbeat", defaults.heartbeatSeconds),
            leaseSeconds: seconds(lease, "--lease", defaults.leaseSeconds),
            limits: WatchdogLimits(
                timeoutSeconds: seconds(timeout, "--timeout", defaults.timeoutSeconds),
                stallSeconds: seconds(stall, "--stall", defaults.stallSeconds),
                burnSeconds: seconds(burn, "--burn", defaults.burnSeconds),
                loopRepeats: loopRepeats ?? defaults.loopRepeats),
            keepFailed: keepFailed ?? defaults.keepFailed, keepFailedBytes: defaults.keepFailedBytes,
            maxRunningPerProject: maxRunning ?? defaults.maxRunning, projectID: project, watch: watch,
            network: defaults.network && !noNetwork,
            // A task without --estimate holds the agent's own cap, if the command line sets one, else
            // the configured default.
            defaultEstimate: kind.userCapUSD(in: command).map { CostEstimate(amount: $0, currency: .usd) }
                ?? defaults.defaultEstimate
        ).validated()
    }
}

/// Prints a supervisor's events, and stops it gracefully on SIGTERM or SIGINT.
enum SupervisorConsole {
    static func show(_ event: SupervisorEvent, json: Bool) {
        if event.kind == .warning, !json {
            Console.current.errorLine("warning: \(Console.printable(event.message))")
            return
        }
        Console.current.line(json ? ((try? SluiceJSON.line(event)) ?? "{}") : text(event))
    }

    /// An event as one line of text: `done: task … done in 4 s: patch … queued`.
    static func text(_ event: SupervisorEvent) -> String {
        "\(event.kind.rawValue): \(Console.printable(event.message))"
    }

    /// SIGTERM and SIGINT ask the supervisor to let its agents finish and claim nothing more; a second
    /// one ends the process (the agents' leases then expire and their tasks go back to the queue).
    static func stopOnSignals(_ supervisor: Supervisor) -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if supervisor.isStopping { exit(128 + number) }
                Console.current.errorLine("stopping: the running agents finish their tasks; signal again to quit now")
                supervisor.requestStop()
            }
            source.resume()
            return source
        }
    }

    static func summary(_ summary: SupervisorSummary) -> String {
        "tasks: \(summary.done) done, \(summary.failed) failed, \(summary.lost) lost; \(summary.reaped) workers reaped"
            + (summary.budgetStop.map { "\nstopped on budget: \(Console.printable($0))" } ?? "")
    }
}

extension WorkerCommand {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run agents on the task queue: N supervised workers in this process.",
            discussion: """
                Each worker claims the next task, runs the agent in a git worktree of its own at the target branch's \
                head, heartbeats its claim, stops an agent that times out, stalls, loops or burns tokens without \
                changing anything, and turns what the agent changed into a patch for `sluice run` (or fails the task \
                with the reason). Ends when no task is queued or running, unless --watch. Exits 1 when a task failed.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "Workers (agents at once) in this process.") var count: Int = 1
        @Flag(help: "Keep waiting for tasks instead of stopping when none is queued or running.") var watch = false
        @OptionGroup var agent: AgentOptions

        func run() async throws {
            let pipeline = try await global.pipeline()
            let (config, _) = try await pipeline.configuration()
            let supervisor = try Supervisor(
                pipeline: pipeline, options: agent.options(count: count, watch: watch, config: config))
            let json = global.json
            let sources = SupervisorConsole.stopOnSignals(supervisor)
            defer { sources.forEach { $0.cancel() } }
            let summary = try await supervisor.run { SupervisorConsole.show($0, json: json) }
            if json {
                struct Final: Encodable {
                    let step = "summary"
                    let done, failed, lost, reaped: Int
                    let budgetStop: String?
                    enum CodingKeys: String, CodingKey {
                        case step, done, failed, lost, reaped
                        case budgetStop = "budget_stop"
                    }
                }
                Console.current.line(
                    try SluiceJSON.line(
                        Final(
                            done: summary.done, failed: summary.failed, lost: summary.lost, reaped: summary.reaped,
                            budgetStop: summary.budgetStop)))
            } else {
                Console.current.line(SupervisorConsole.summary(summary))
            }
            // Like `sluice run` with a quarantined patch: a failed task is worth a look.
            // A budget that stopped work leaves tasks queued: worth a look too.
            if summary.failed > 0 || summary.budgetStop != nil { throw reportFailure() }
        }
    }

    struct Reap: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mark crashed the workers whose lease expired, and requeue their tasks.",
            discussion: """
                A worker whose lease (by the database's clock) is older than --lease, or than its own longer lease, \
                is marked crashed with the reason "lease expired"; its task goes back to the queue with its attempt \
                counted, or fails as a poison task after its last attempt. Every supervisor does this on its own.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "Seconds a lease lasts without a heartbeat.") var lease: String = "45"

        func run() async throws {
            let lease = try Parse.seconds(lease, option: "--lease", maximum: 86_400)
            guard lease >= 1 else { throw SluiceError.invalidInput("--lease must be at least 1 second") }
            let reaped = try await global.engine().workers.reap(lease: lease)
            try WorkerCommand.printList(reaped, global, empty: "no worker's lease has expired")
        }
    }

    struct GC: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Remove the workspaces kept from failed attempts, and any left by a killed supervisor.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Failed workspaces to keep, newest first.") var keep: Int = 0

        func run() async throws {
            guard keep >= 0 else { throw SluiceError.invalidInput("--keep must not be negative") }
            let pipeline = try await global.pipeline()
            let removed = try await Supervisor.collectGarbage(pipeline: pipeline, keeping: keep)
            Console.current.line(
                "removed \(removed) workspace\(removed == 1 ? "" : "s") or spare worktree\(removed == 1 ? "" : "s")")
        }
    }
}
