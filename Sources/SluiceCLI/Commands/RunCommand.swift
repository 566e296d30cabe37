import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine
import Synchronization

/// The last line of a terminal, redrawn in place below the event lines.
final class LiveLine: Sendable {
    private let status = Mutex("")
    /// Whether an event was printed since the status was last read.
    private let changed = Atomic<Bool>(true)

    /// An event line above the status line.
    func print(_ line: String) {
        status.withLock { current in
            Console.write(Data(("\r\u{1B}[K" + line + "\n" + current).utf8), to: .standardOutput)
        }
        changed.store(true, ordering: .relaxed)
    }

    /// Whether an event was printed since the last call.
    func takeChanged() -> Bool { changed.exchange(false, ordering: .relaxed) }

    func update(_ line: String) {
        status.withLock { current in
            current = line
            Console.write(Data(("\r\u{1B}[K" + line).utf8), to: .standardOutput)
        }
    }

    /// Clears the status line for good.
    func finish() {
        status.withLock { current in
            current = ""
            Console.write(Data("\r\u{1B}[K".utf8), to: .standardOutput)
        }
    }
}

/// A flag set once: the supervisor of `sluice run --workers` has ended, or a run was asked to stop.
final class SupervisorDone: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { flag.load(ordering: .sequentiallyConsistent) }
    /// Sets it, returning whether it was set before.
    func setAgain() -> Bool { flag.exchange(true, ordering: .sequentiallyConsistent) }
}

/// `sluice run`: the main job. Processes the queue until it is empty.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract:
            "Apply, gate and land (or quarantine) every queued patch (the highest priority first, then the oldest) until the queue is empty.",
        discussion: """
            Each patch is applied in a git worktree of its own at the target branch's head, gated there, and lands \
            with a compare-and-swap only if the branch has not moved. With merge_queue.batch_size above 1, queued \
            patches are stacked, one commit each, gated once at the top and landed together (bisected when the gate \
            fails); with merge_queue.max_parallel above 1, several such batches are gated at once, each on top of \
            the ones below it (see docs/pipeline.md). A run that was killed is recovered from the \
            ledger by the next one; SIGINT or SIGTERM (without --workers) first kills the gates running and \
            releases what was held on the budgets for them. Before a patch's gates run, what they may cost (costs.compute_rate × their time \
            limits and grace) is held on the budgets; a hard budget that cannot cover it stops the run there (with \
            --watch and no --workers, the run waits for the budget instead). Exits 1 when a patch was rejected or \
            quarantined, a task failed, or the run stopped on a budget or on a red target branch.

            With `flaky: {reruns: N}` in sluice.yml, a failed gate is run again on the same tree, from scratch, \
            up to N times before the patch is blamed: a pass makes the failure flaky and the patch lands. When every rerun fails, the \
            gate runs on the target branch without the patch; failing there too, the branch is red: no patch \
            is blamed, only urgent patches go until a check of the branch passes, and the run stops.

            With --workers N and --agent, it also runs N agents on the task queue (as `sluice worker run`), \
            and lands what they produce, until both queues are empty (or forever with --watch).
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Keep waiting for new patches (and tasks) instead of stopping when the queues are empty.")
    var watch = false
    @Option(help: "Also run this many agents on the task queue (needs --agent).") var workers: Int?
    @OptionGroup var agent: AgentOptions

    func run() async throws {
        let pipeline = try await global.pipeline()
        let json = global.json
        let clock = ContinuousClock()
        let start = clock.now
        // Process-wide, and this process exists to run gates: what an unsealed gate leaves outside its
        // process group is reparented here, where the runner finds and kills it.
        OrphanReaper.adoptOrphans()
        var supervisor: Supervisor?
        if let workers {
            let (config, _) = try await pipeline.configuration()
            supervisor = try Supervisor(
                pipeline: pipeline, options: agent.options(count: workers, watch: watch, config: config))
        } else if agent.agent != nil || !agent.command.isEmpty {
            throw SluiceError.invalidInput("--agent and an agent command need --workers N")
        }
        let (summary, tasks) = try await RunCommand.runBoth(pipeline, supervisor, watch: watch, json: json)
        let seconds = (clock.now - start).inSeconds
        if let tasks, !json { Console.current.line(SupervisorConsole.summary(tasks)) }
        if json {
            struct Final: Encodable {
                let step = "summary"
                let summary: PipelineSummary
                let seconds: Double
                let budgetStop: String?
                enum CodingKeys: String, CodingKey {
                    case step, summary, seconds
                    case budgetStop = "budget_stop"
                }
            }
            Console.current.line(
                try SluiceJSON.line(
                    Final(summary: summary, seconds: seconds, budgetStop: summary.budgetStop ?? tasks?.budgetStop)))
        } else {
            Console.current.line(
                "summary: \(summary.landed.count) landed, \(summary.quarantined.count) quarantined, "
                    + "\(summary.rejected.count) rejected; gates \(String(format: "%.2f", summary.gateSeconds)) s"
                    + (summary.gateRuns > 1 ? " in \(summary.gateRuns) runs" : "")
                    + ", total \(String(format: "%.2f", seconds)) s")
            for item in summary.quarantined {
                Console.current.line("  quarantined \(item.ledgerID): \(Console.printable(item.reason))")
            }
            for item in summary.rejected {
                Console.current.line("  rejected \(item.ledgerID): \(Console.printable(item.reason))")
            }
            if let stop = summary.budgetStop {
                Console.current.line("stopped on budget: \(Console.printable(stop))")
            }
            if let red = summary.redBranch {
                Console.current.line(
                    "stopped: the target branch is red, no patch is blamed for it: \(Console.printable(red)); "
                        + "the queue goes on once its gates pass again (a fix submitted with --priority urgent "
                        + "is gated alone on it)")
            }
            if tasks != nil { Console.current.line("status: " + (try await pipeline.engine.status()).line) }
        }
        // As `worker run` does, a failed task fails the run: its work did not become a patch.
        if !summary.quarantined.isEmpty || !summary.rejected.isEmpty || tasks?.budgetStop != nil
            || summary.budgetStop != nil || summary.redBranch != nil || (tasks?.failed ?? 0) > 0
        {
            throw reportFailure()
        }
    }

    /// The landing pipeline, and the supervisor when there is one: the pipeline ends once the supervisor
    /// has and the patch queue is empty.
    static func runBoth(_ pipeline: Pipeline, _ supervisor: Supervisor?, watch: Bool, json: Bool) async throws
        -> (PipelineSummary, SupervisorSummary?)
    {
        guard let supervisor else {
            let sources = abandonOnSignals(pipeline)
            defer { sources.forEach { $0.cancel() } }
            return (try await pipeline.run(watch: watch) { RunCommand.show($0, json: json) }, nil)
        }
        let sources = SupervisorConsole.stopOnSignals(supervisor)
        defer { sources.forEach { $0.cancel() } }
        let finished = SupervisorDone()
        // On a terminal, a last line shows the whole picture, redrawn as it changes.
        let live = !json && isatty(STDOUT_FILENO) == 1 && Console.current === Console.standard ? LiveLine() : nil
        let engine = pipeline.engine
        // The picture reads every task, patch and worker: it is read again after events were printed,
        // else every 5 s (other hosts' work), not on every half second.
        let redraw = Task {
            var quiet = 0
            while let live, !Task.isCancelled {
                if live.takeChanged() || quiet >= 10 {
                    quiet = 0
                    if let snapshot = try? await engine.status() { live.update(snapshot.line) }
                } else {
                    quiet += 1
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        defer { redraw.cancel() }
        async let tasks: SupervisorSummary = {
            defer { finished.set() }
            return try await supervisor.run { event in
                if let live, event.kind != .warning {
                    live.print(SupervisorConsole.text(event))
                } else {
                    SupervisorConsole.show(event, json: json)
                }
            }
        }()
        let landed = try await pipeline.run(watch: true, until: { finished.isSet }) { event in
            if let live, event.step != "warning" {
                live.print(Console.printable(event.line))
            } else {
                RunCommand.show(event, json: json)
            }
        }
        // Stopped on a budget, nothing more lands: the agents finish what they run, and start nothing new.
        if landed.budgetStop != nil { supervisor.requestStop() }
        let summary = try await tasks
        redraw.cancel()
        live?.finish()
        return (landed, summary)
    }

    /// SIGINT and SIGTERM stop a run without agents at once, as a kill would, but first its gates are
    /// killed and what it held on the budgets for them is released (``Pipeline/abandon()``); a second
    /// signal exits without waiting for that.
    static func abandonOnSignals(_ pipeline: Pipeline) -> [any DispatchSourceSignal] {
        let stopping = SupervisorDone()
        return [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if stopping.setAgain() { Glibc.exit(128 + number) }
                Console.current.errorLine(
                    "stopping: the gates running are killed; the next sluice run gates their patch again")
                Task.detached {
                    await pipeline.abandon()
                    // At once: no atexit work, and no time for the run to record the killed gate as failed.
                    _exit(128 + number)
                }
            }
            source.resume()
            return source
        }
    }

    /// One event: a line (or JSON line) on standard output; a warning, as one line on standard error.
    static func show(_ event: PipelineEvent, json: Bool) {
        if event.step == "warning" {
            Console.current.errorLine(
                json ? ((try? SluiceJSON.line(event)) ?? "{}") : "warning: \(Console.printable(event.message))")
        } else {
            // Messages carry what gates reported (test names): a newline in one must not pass for a line of ours.
            Console.current.line(json ? ((try? SluiceJSON.line(event)) ?? "{}") : Console.printable(event.line))
        }
    }
}
