import Foundation
import SluiceCore
import SluiceTesting
import Testing

@testable import SluiceBench

/// The `postgres` and `follow` groups, run tiny: they measure, report their settings and targets,
/// and the follower's checks hold.
@Suite("PostgreSQL and follower benchmarks")
struct PostgresBenchmarkTests {
    @Test(
        "on a server given by URL: the baseline, the transitions against it, and the lag on both backends",
        .requiresPostgres)
    func onAGivenServer() async throws {
        let url = try PostgresServer.shared().makeDatabase()
        let directory = TemporaryDirectory()
        let collected = Collected()
        try await BenchmarkSuite(sizes: .tiny, directory: directory.path, postgres: .existing(url: url))
            .run(only: ["postgres", "follow"]) { collected.append($0) }
        let results = collected.results
        #expect(
            results.map(\.name) == [
                "events_follow_lag", "postgres_commit_baseline", "postgres_transitions", "task_claims_postgres",
                "budget_reservations_postgres", "events_follow_lag",
            ])
        #expect(results.allSatisfy { $0.skipped == nil })
        let baseline = try #require(results.first { $0.name == "postgres_commit_baseline" })
        #expect(baseline.value > 0)
        #expect(baseline.detail["commits"] == .number(32))
        #expect(baseline.detail["connections"] == .number(16))
        // The test server runs without fsync, and the line says so, as the server reports it.
        #expect(baseline.detail["settings"]?.stringValue?.contains("fsync=off") == true)
        #expect(
            baseline.detail["server"]?.stringValue?.hasPrefix("given by --db: postgres://postgres@127.0.0.1") == true)
        let transitions = try #require(results.first { $0.name == "postgres_transitions" })
        #expect(transitions.value > 0)
        #expect(transitions.detail["lifecycles"] == .number(16))
        #expect(transitions.detail["target"] == .string(">= 0.5 x postgres_commit_baseline"))
        let ratio = try #require(transitions.detail["ratio_to_baseline"]?.doubleValue)
        #expect(abs(ratio - transitions.value / baseline.value) < 0.01)
        let lags = results.filter { $0.name == "events_follow_lag" }
        #expect(
            lags.map { $0.detail["database"] } == [.string("sqlite-file, synchronous=FULL"), .string("postgresql")])
        for lag in lags {
            // 16 writers, one lifecycle each, six events per lifecycle: every one seen.
            #expect(lag.detail["events"] == .number(96))
            let p50 = try #require(lag.detail["p50_ms"]?.doubleValue)
            let p99 = try #require(lag.detail["p99_ms"]?.doubleValue)
            let max = try #require(lag.detail["max_ms"]?.doubleValue)
            #expect(0 <= p50 && p50 <= p99 && p99 <= max)
            #expect(abs(lag.value - p99) < 0.001)
            #expect(lag.detail["target"] == .string("p99 <= 50 ms"))
        }
    }

    @Test(
        "without --db: a throwaway server with fsync on, deleted afterwards; skipped with the reason where it cannot run"
    )
    func onAThrowawayServer() async throws {
        let directory = TemporaryDirectory()
        let collected = Collected()
        try await BenchmarkSuite(sizes: .tiny, directory: directory.path).run(only: ["postgres", "follow"]) {
            collected.append($0)
        }
        let results = collected.results
        #expect(
            results.map(\.name) == [
                "events_follow_lag", "postgres_commit_baseline", "postgres_transitions", "task_claims_postgres",
                "budget_reservations_postgres", "events_follow_lag",
            ])
        #expect(results[0].skipped == nil && results[0].value >= 0)
        if let reason = PostgresServer.availability.reason {
            // CI needs these benchmarks to run: there, a missing server is a failure.
            #expect(!PostgresServer.isRequired, "\(PostgresServer.skipComment)")
            #expect(results.dropFirst().allSatisfy { $0.skipped == reason })
            let line = try #require(
                try JSONSerialization.jsonObject(with: Data(results[1].jsonLine.utf8)) as? [String: Any])
            #expect(line["skipped"] as? String == reason)
            #expect(line["value"] == nil)
            return
        }
        for result in results.dropFirst() {
            #expect(result.skipped == nil)
            #expect(result.value > 0)
            let settings = try #require(result.detail["settings"]?.stringValue)
            #expect(settings.contains("fsync=on, synchronous_commit=on, full_page_writes=on"))
            let server = try #require(result.detail["server"]?.stringValue)
            let place = try #require(server.firstRange(of: " in ")).upperBound
            let folder = String(try #require(server[place...].split(separator: ",").first))
            #expect(folder.contains("sluice-postgres-"))
            // Stopped and deleted once the benchmarks are done.
            #expect(!FileManager.default.fileExists(atPath: folder))
        }
    }

    @Test("the follower refuses an event it saw twice or out of order")
    func followerChecks() throws {
        func event(_ sequence: Int64, _ id: String, _ state: String) -> Event {
            Event(
                sequence: sequence, entityKind: .patch, entityID: id, fromState: nil, toState: state, reason: nil,
                at: Timestamp(milliseconds: 0), actor: "bench")
        }
        let now = ContinuousClock.now
        var log = FollowerLog(start: 10)
        try log.record([event(11, "a", "created"), event(13, "a", "validated")], at: now)
        #expect(log.sequences == [11, 13])
        #expect(log.seen.count == 2)
        #expect(throws: SluiceError.self) { try log.record([event(13, "b", "created")], at: now) }
        var again = FollowerLog(start: 0)
        #expect(throws: SluiceError.self) {
            try again.record([event(1, "a", "created"), event(2, "a", "created")], at: now)
        }
        var before = FollowerLog(start: 5)
        #expect(throws: SluiceError.self) { try before.record([event(5, "a", "created")], at: now) }
    }

    @Test("a skipped benchmark prints its name and reason, and no value")
    func skippedLine() throws {
        let line = BenchmarkResult.skipped(
            "events_follow_lag", reason: "no initdb", detail: ["database": .string("postgresql")]
        )
        .jsonLine
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["name"] as? String == "events_follow_lag")
        #expect(object["skipped"] as? String == "no initdb")
        #expect(object["database"] as? String == "postgresql")
        #expect(object["value"] == nil && object["unit"] == nil)
    }
}

extension JSONValue {
    /// The number, as a `Double`, for comparisons with a tolerance.
    fileprivate var doubleValue: Double? { numberValue.map { NSDecimalNumber(decimal: $0).doubleValue } }
}
