import Foundation
import SluiceTesting
import Synchronization
import Testing

/// `sluice budget …` and holds taken by claims in separate processes (with `SLUICE_TEST_DB=postgres`,
/// on PostgreSQL).
@Suite("Budget commands")
struct BudgetCommandTests {
    /// Runs every command line at once, each the real binary on a thread of its own (not the
    /// concurrency pool, which has as many threads as cores); the results in order.
    static func together(_ cli: CLIHarness, _ commands: [[String]]) async -> [CLIHarness.Output] {
        let results = Mutex([CLIHarness.Output?](repeating: nil, count: commands.count))
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let group = DispatchGroup()
            for (index, command) in commands.enumerated() {
                group.enter()
                Thread.detachNewThread {
                    let output =
                        (try? cli.processBlocking(command))
                        ?? CLIHarness.Output(status: -1, stdout: "", stderr: "did not run")
                    results.withLock { $0[index] = output }
                    group.leave()
                }
            }
            group.notify(queue: .global()) { done.resume() }
        }
        return results.withLock { $0.compactMap { $0 } }
    }

    @Test("32 claims in separate processes against a hard budget that fits 10: exactly 10 hold, the rest exit 1")
    func thirtyTwoProcesses() async throws {
        let cli = await CLIHarness().initialise()
        let set = await cli.run(["budget", "set", "global", "10", "--hard", "--json"])
        #expect(set.status == 0, "\(set.stderr)")
        var workers: [String] = []
        for _ in 0..<32 {
            #expect(await cli.run(["task", "add", "work", "--estimate", "1"]).status == 0)
            workers.append(
                try #require(try await cli.object(["worker", "create", "--type", "executor"])["worker_id"] as? String))
        }
        // A reader samples committed + held while the claims race: never past the limit. It runs the
        // binary on a thread of its own: an in-process command would open the database on the
        // concurrency pool and wait there for the racing writers, starving other tests' tasks.
        let racing = Atomic<Bool>(true)
        let seen = Mutex<[Double]>([])
        let sampled = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while racing.load(ordering: .relaxed) {
                if let output = try? cli.processBlocking(["budget", "show", "global", "--json"]),
                    let object = try? output.object(), let budget = object["budget"] as? [String: Any],
                    let committed = budget["committed"] as? Double, let held = budget["held"] as? Double
                {
                    seen.withLock { $0.append(committed + held) }
                }
            }
            sampled.signal()
        }
        let outputs = await Self.together(cli, workers.map { ["task", "claim", "--worker", $0, "--json"] })
        racing.store(false, ordering: .relaxed)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                sampled.wait()
                done.resume()
            }
        }
        let samples = seen.withLock { $0 }
        let statuses = outputs.map(\.status)
        #expect(statuses.filter { $0 == 0 }.count == 10, "\(statuses)")
        // The rest are refused by the budget (exit 1); on PostgreSQL a claim can also find every
        // queued row locked by claims checking them at that moment, and say none is free (exit 4).
        #expect(statuses.filter { $0 == 1 }.count >= 1, "\(statuses)")
        #expect(statuses.filter { $0 == 1 || $0 == 4 }.count == 22, "\(statuses) \(outputs.map(\.stderr))")
        for refused in outputs where refused.status == 1 {
            #expect(refused.stderr.contains("hard budget global"), "\(refused.stderr)")
        }
        #expect(!samples.isEmpty && samples.allSatisfy { $0 <= 10 }, "\(samples)")
        let shown = try await cli.object(["budget", "show", "global"])
        let budget = try #require(shown["budget"] as? [String: Any])
        #expect(budget["held"] as? Double == 10)
        #expect(budget["committed"] as? Double == 0)
        #expect(budget["remaining"] as? Double == 0)
        let running = try await cli.process(["task", "list", "--state", "running", "--json"]).lines()
        #expect(running.count == 10)
        #expect(try await cli.process(["task", "list", "--state", "queued", "--json"]).lines().count == 22)
    }

    @Test("budget commands set, list, show and remove; bad input is refused in words and changes nothing")
    func commands() async throws {
        let cli = await CLIHarness().initialise()
        let set = await cli.run([
            "budget", "set", "project:web", "25.50", "--window", "month", "--timezone", "Europe/Berlin", "--soft",
            "50,80", "--hard",
        ])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout.contains("hard budget project:web: 25.5 USD per month (Europe/Berlin)"), "\(set.stdout)")
        for bad in [
            ["budget", "set", "team:x", "1"], ["budget", "set", "global", "0"],
            ["budget", "set", "global", "0.0000000001"],
            ["budget", "set", "global", "1", "--window", "year"], ["budget", "set", "global", "1", "--soft", "50,x"],
            ["budget", "set", "global", "1", "--timezone", "Nowhere/Else"],
            ["budget", "set", "global", "1", "--currency", "usd"], ["task", "add", "x", "--estimate", "-1"],
            ["task", "add", "x", "--estimate", "1 dollars"],
        ] {
            let output = await cli.run(bad)
            #expect(output.status == 64, "\(bad): \(output.status) \(output.stderr)")
            #expect(output.stderr.hasPrefix("error: "), "\(bad): \(output.stderr)")
        }
        // A negative limit is a limit, refused for what it is, not taken for an option.
        for (bad, words) in [
            (["budget", "set", "global", "-1"], "must be above zero, got -1"),
            (["budget", "set", "global"], "give the budget's LIMIT"),
            (["budget", "set", "global", "5", "--hrad"], "unexpected '--hrad'"),
        ] {
            let output = await cli.run(bad)
            #expect(output.status == 64 && output.stderr.contains(words), "\(bad): \(output.stderr)")
        }
        let list = try await cli.process(["budget", "list", "--json"]).lines()
        #expect(list.count == 1)
        #expect(list.first?["scope"] as? String == "project:web")
        #expect(list.first?["soft"] as? [Int] == [50, 80])
        #expect(try await cli.process(["task", "list", "--json"]).lines().isEmpty)
        #expect(await cli.run(["budget", "show", "global"]).status == 4)
        let removed = await cli.run(["budget", "remove", "project:web"])
        #expect(removed.status == 0 && removed.stdout.contains("removed budget project:web"))
        #expect(await cli.run(["budget", "list"]).stdout.contains("no budgets"))
        #expect(await cli.run(["budget", "remove", "project:web"]).status == 4)
        // The log keeps what the budget was.
        let events = try await cli.process(["events", "--entity", "project:web", "--json"]).lines()
        #expect(events.count == 2)
    }

    @Test("budget rate set and list: a recorded rate makes an EUR cost count on a USD budget; bad rates change nothing")
    func rates() async throws {
        let cli = await CLIHarness().initialise()
        #expect(await cli.run(["budget", "set", "global", "10", "--hard"]).status == 0)
        for bad in [
            ["budget", "rate", "set", "EUR", "EUR", "1", "--date", "2026-11-27", "--source", "x"],
            ["budget", "rate", "set", "eur", "USD", "1", "--date", "2026-11-27", "--source", "x"],
            ["budget", "rate", "set", "EUR", "USD", "0", "--date", "2026-11-27", "--source", "x"],
            ["budget", "rate", "set", "EUR", "USD", "-1.1", "--date", "2026-11-27", "--source", "x"],
            ["budget", "rate", "set", "EUR", "USD", "1.1", "--date", "27.11.2026", "--source", "x"],
            ["budget", "rate", "set", "EUR", "USD", "1.1", "--date", "2026-11-27", "--source", ""],
            ["budget", "rate", "set", "EUR", "USD", "1.1", "--date", "2026-11-27", "--source", "a\nb"],
            ["budget", "rate", "set", "EUR", "USD", "1.1", "--source", "x"],
        ] {
            let output = await cli.run(bad)
            #expect(output.status == 64, "\(bad): \(output.status) \(output.stderr)")
            #expect(
                output.stderr.hasPrefix("error: ") || output.stderr.hasPrefix("Error: "), "\(bad): \(output.stderr)")
        }
        #expect(await cli.run(["budget", "rate", "list"]).stdout.contains("no currency rates"))
        let set = await cli.run([
            "budget", "rate", "set", "EUR", "USD", "1.08", "--date", "2026-11-27", "--source", "ECB reference rate",
        ])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout.contains("1 EUR = 1.08 USD (2026-11-27, ECB reference rate)"), "\(set.stdout)")
        #expect(
            await cli.run(["cost", "record", "--type", "custom", "--amount", "2", "--currency", "EUR"]).status == 0)
        let budget = try #require(try await cli.object(["budget", "show", "global"])["budget"] as? [String: Any])
        #expect(budget["committed"] as? Double == 2.16)
        let rates = try await cli.process(["budget", "rate", "list", "--json"]).lines()
        #expect(rates.count == 1)
        #expect(rates.first?["rate"] as? Double == 1.08 && rates.first?["quoted_on"] as? String == "2026-11-27")
        #expect(rates.first?["source"] as? String == "ECB reference rate")
        let converted = try await cli.process(["events", "--entity", "global", "--json"]).lines().filter {
            ($0["payload"] as? [String: Any])?["operation"] as? String == "converted"
        }
        #expect(converted.count == 1)
    }
}

@Suite("Cost report command")
struct CostReportCommandTests {
    @Test("cost report prints a table, JSON Lines or CSV; bad options are refused")
    func formats() async throws {
        let cli = await CLIHarness().initialise()
        for (project, model, amount) in [("web", "m,1", "0.5"), ("web", "m2", "0.25"), ("api", "m2", "1")] {
            let output = await cli.run([
                "cost", "record", "--type", "api_call", "--amount", amount, "--project", project, "--resource", model,
            ])
            #expect(output.status == 0, "\(output.stderr)")
        }
        let table = await cli.run(["cost", "report", "--by", "project"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("PROJECT") && table.stdout.contains("0.75"), "\(table.stdout)")
        let lines = try await cli.process(["cost", "report", "--by", "model", "--json"]).lines()
        #expect(lines.compactMap { $0["key"] as? String } == ["m,1", "m2"])
        #expect(lines.compactMap { $0["amount"] as? Double } == [0.5, 1.25])
        let csv = await cli.run(["cost", "report", "--by", "model", "--format", "csv"])
        #expect(
            csv.stdout
                == "model,currency,amount,records,unpriced,disagreeing,reported_difference\n"
                + "\"m,1\",USD,0.5,1,0,0,0\nm2,USD,1.25,2,0,0,0\n")
        for bad in [
            ["cost", "report", "--by", "colour"], ["cost", "report", "--format", "xml"],
            ["cost", "report", "--since", "yesterday"],
            ["cost", "report", "--since", "2026-02-02", "--until", "2026-02-01"],
        ] {
            let output = await cli.run(bad)
            #expect(output.status == 64, "\(bad): \(output.status) \(output.stderr)")
            #expect(output.stderr.hasPrefix("error: "), "\(bad): \(output.stderr)")
        }
        let outcome = await cli.run(["cost", "report", "--by", "outcome"])
        #expect(
            outcome.stdout.contains("unattributed") && outcome.stdout.contains("no patch landed"), "\(outcome.stdout)")
    }
}
