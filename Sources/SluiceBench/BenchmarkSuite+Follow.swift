import Foundation
import SluiceCore
import SluicePostgres
import SluiceStore
import Synchronization

extension BenchmarkSuite {
    /// How long the follower sleeps when a poll finds nothing new, as `sluice events --follow` will.
    static let followPause = Duration.milliseconds(2)
    /// The most events one poll reads.
    static let followBatch = 1_000

    /// `events_follow_lag`: while the transition load of `postgres_transitions` runs on `storage`, a
    /// follower polls `events(entityID: nil, after: last, limit:)`; each event's lag is the time the
    /// follower saw it minus the time its unit of work returned to the writer, on one monotonic clock.
    ///
    /// - Throws: when the follower missed an event, saw one twice, or saw them out of order.
    func followLag(on storage: any Storage, database: String, detail: [String: JSONValue] = [:]) async throws
        -> BenchmarkResult
    {
        let clock = ContinuousClock()
        // The log may already hold events (a database named by --db): follow from its end.
        var start: Int64 = 0
        while let last = try await storage.events(entityID: nil, after: start, limit: 10_000).last?.sequence {
            start = last
        }
        let commits = Mutex<[String: ContinuousClock.Instant]>([:])
        let done = Atomic<Bool>(false)
        let cursor = start
        let follower = Task { () async throws -> FollowerLog in
            var log = FollowerLog(start: cursor)
            var drained = false
            while true {
                let batch = try await storage.events(entityID: nil, after: log.cursor, limit: Self.followBatch)
                log.polls += 1
                try log.record(batch, at: clock.now)
                if batch.isEmpty {
                    // Once the writers are done, one more empty poll proves the log is drained.
                    if drained { return log }
                    if done.load(ordering: .acquiring) {
                        drained = true
                        continue
                    }
                    try await Task.sleep(for: Self.followPause)
                } else {
                    drained = false
                }
            }
        }
        let load: TransitionLoad
        do {
            load = try await runTransitions(on: storage, lifecycles: sizes.followLifecycles) { entityID, state in
                let now = clock.now
                commits.withLock { $0["\(entityID) \(state)"] = now }
            }
        } catch {
            follower.cancel()
            throw error
        }
        done.store(true, ordering: .releasing)
        let log = try await follower.value
        let committed = commits.withLock { $0 }
        // Every event once: the follower's keys are the writers' keys, and its sequences are the whole log's.
        let whole = try await storage.events(entityID: nil, after: start, limit: nil).map(\.sequence)
        guard log.seen.count == committed.count, log.sequences == whole else {
            throw SluiceError(
                code: .storage,
                message: "events_follow_lag on \(database): the follower saw \(log.sequences.count) events, "
                    + "the writers committed \(committed.count) and the log holds \(whole.count) after \(start)")
        }
        var lags: [Double] = []
        lags.reserveCapacity(log.seen.count)
        var early = 0
        for (key, seenAt) in log.seen {
            guard let committedAt = committed[key] else {
                throw SluiceError(
                    code: .storage, message: "events_follow_lag on \(database): the follower saw \(key), never written")
            }
            let lag = (seenAt - committedAt).inSeconds * 1000
            // The writer learns of its commit a little after the database made it visible: the follower
            // may see the event first. Such an event's lag is counted as zero.
            if lag < 0 { early += 1 }
            lags.append(max(0, lag))
        }
        lags.sort()
        func percentile(_ fraction: Double) -> Double {
            lags.isEmpty ? 0 : lags[min(lags.count - 1, Int((Double(lags.count) * fraction).rounded(.up)) - 1)]
        }
        func milliseconds(_ value: Double) -> JSONValue { .number(Decimal(string: String(format: "%.3f", value)) ?? 0) }
        return BenchmarkResult(
            name: "events_follow_lag", value: percentile(0.99), unit: "ms",
            detail: detail.merging([
                "database": .string(database), "events": .number(Decimal(lags.count)),
                "p50_ms": milliseconds(percentile(0.5)), "p99_ms": milliseconds(percentile(0.99)),
                "max_ms": milliseconds(lags.last ?? 0), "seen_before_writer_returned": .number(Decimal(early)),
                "polls": .number(Decimal(log.polls)), "poll_pause_ms": .number(2),
                "writers": .number(Decimal(Self.writers)),
                "transitions_per_second": .number(
                    Decimal(string: String(format: "%.1f", Double(load.transitions) / load.seconds)) ?? 0),
                "commit_time": .string("when the writer's unit of work returned"),
                "checked": .string("every event exactly once, in increasing sequence"),
                "target": .string("p99 <= 50 ms"),
            ]) { $1 })
    }

    /// `events_follow_lag` on a SQLite file with the default durable settings.
    func followLagSQLite() async throws -> BenchmarkResult {
        let storage = try SQLiteStorage(path: path("follow.db"))
        return try await followLag(on: storage, database: "sqlite-file, synchronous=FULL")
    }

    /// `events_follow_lag` on PostgreSQL.
    func followLagPostgres(_ postgres: BenchmarkPostgres) async throws -> BenchmarkResult {
        let storage = try await PostgresStorage(
            url: try postgres.makeDatabase(), options: PostgresStorage.Options(poolSize: Self.writers + 1))
        do {
            let result = try await followLag(on: storage, database: "postgresql", detail: postgres.detail)
            await storage.close()
            return result
        } catch {
            await storage.close()
            throw error
        }
    }
}

/// What the follower saw, checked as it goes: each event once, in increasing sequence.
struct FollowerLog: Sendable {
    private(set) var cursor: Int64
    /// When the follower saw each event, by entity id and state.
    private(set) var seen: [String: ContinuousClock.Instant] = [:]
    private(set) var sequences: [Int64] = []
    var polls = 0

    init(start: Int64) {
        self.cursor = start
    }

    /// Takes in one poll's events.
    ///
    /// - Throws: when an event's sequence is not past the last one seen, or its key was seen before.
    mutating func record(_ events: [Event], at now: ContinuousClock.Instant) throws {
        for event in events {
            guard event.sequence > cursor else {
                throw SluiceError(
                    code: .storage,
                    message: "the follower saw event \(event.sequence) after \(cursor): out of order or twice")
            }
            let key = "\(event.entityID) \(event.toState ?? "")"
            guard seen.updateValue(now, forKey: key) == nil else {
                throw SluiceError(code: .storage, message: "the follower saw \(key) twice")
            }
            cursor = event.sequence
            sequences.append(event.sequence)
        }
    }
}
