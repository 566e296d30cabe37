import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine

/// `sluice run`: the main job. Processes the queue until it is empty.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Apply, gate and land (or quarantine) every queued patch, in order, until the queue is empty.",
        discussion: """
            Each patch is applied in a git worktree of its own at the target branch's head, gated there, and lands \
            with a compare-and-swap only if the branch has not moved. A run that was killed is recovered from the \
            ledger by the next one. Exits 1 when a patch was rejected or quarantined.
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Keep waiting for new patches instead of stopping when the queue is empty.") var watch = false

    func run() async throws {
        let pipeline = try await global.pipeline()
        let json = global.json
        let clock = ContinuousClock()
        let start = clock.now
        // Process-wide, and this process exists to run gates: what an unsealed gate leaves outside its
        // process group is reparented here, where the runner finds and kills it.
        OrphanReaper.adoptOrphans()
        let summary = try await pipeline.run(watch: watch) { event in
            RunCommand.show(event, json: json)
        }
        let seconds = (clock.now - start).inSeconds
        if json {
            struct Final: Encodable {
                let step = "summary"
                let summary: PipelineSummary
                let seconds: Double
            }
            Console.current.line(try SluiceJSON.line(Final(summary: summary, seconds: seconds)))
        } else {
            Console.current.line(
                "summary: \(summary.landed.count) landed, \(summary.quarantined.count) quarantined, "
                    + "\(summary.rejected.count) rejected; gates \(String(format: "%.2f", summary.gateSeconds)) s, "
                    + "total \(String(format: "%.2f", seconds)) s")
            for item in summary.quarantined {
                Console.current.line("  quarantined \(item.ledgerID): \(Console.printable(item.reason))")
            }
            for item in summary.rejected {
                Console.current.line("  rejected \(item.ledgerID): \(Console.printable(item.reason))")
            }
        }
        if !summary.quarantined.isEmpty || !summary.rejected.isEmpty { throw reportFailure() }
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
