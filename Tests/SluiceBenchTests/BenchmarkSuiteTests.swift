import Foundation
import SluiceBench
import SluiceTesting
import Testing

/// Runs the benchmarks tiny: checks that each one runs and reports, not how fast (that is the executable's job).
@Suite("Benchmark suite")
struct BenchmarkSuiteTests {
    @Test("every SQLite benchmark runs and prints one JSON line with a positive value")
    func runsTiny() async throws {
        let directory = TemporaryDirectory()
        var results: [BenchmarkResult] = []
        let collected = Collected()
        // The PostgreSQL and follower groups have tests of their own.
        let sqliteGroups = Set(BenchmarkSuite.groups).subtracting(["postgres", "follow"])
        try await BenchmarkSuite(sizes: .tiny, directory: directory.path).run(only: sqliteGroups) {
            collected.append($0)
        }
        results = collected.results
        #expect(
            results.map(\.name) == [
                "sqlite_commit_baseline", "patch_transitions_durable", "task_claims", "agent_start_latency",
                "supervisor_overhead", "budget_reservations", "sqlite_transition_floor_memory",
                "patch_transitions_memory", "worker_cycles", "cost_insert", "cost_total_30", "cost_breakdown_30",
                "cost_report_30",
                "diff_parse", "junit_parse", "git_floor", "pipeline_overhead", "merge_queue",
            ])
        for result in results {
            #expect(result.value >= 0)
            let object = try JSONSerialization.jsonObject(with: Data(result.jsonLine.utf8)) as? [String: Any]
            #expect(object?["name"] as? String == result.name)
            #expect(object?["unit"] as? String == result.unit)
        }
        #expect(results.first { $0.name == "cost_total_30" }?.detail["records"] == .number(30))
        // The git floor landed every patch (it checks its branch), and the pipeline is measured against it.
        #expect((results.first { $0.name == "git_floor" }?.value ?? 0) > 0)
        #expect(results.first { $0.name == "pipeline_overhead" }?.detail["ratio_to_git_floor"] != nil)
        // Batched and alone, the same patches landed in the same order, and the same were quarantined.
        let queue = try #require(results.first { $0.name == "merge_queue" })
        #expect(queue.detail["same_outcome"] == .bool(true), "\(queue.detail)")
        #expect(queue.detail["quarantined"] == .number(1))
    }
}

/// Results gathered from the suite's callback.
final class Collected: @unchecked Sendable {
    // @unchecked: the suite calls back on one task at a time.
    var results: [BenchmarkResult] = []
    func append(_ result: BenchmarkResult) { results.append(result) }
}
