import Foundation
import SluiceCore
import SluiceStore

/// A test that failed a gate run and passed when the same tree was gated again: what the pipeline's
/// flake verdicts (`flaky.reruns`) found, read back from the gate runs on record.
public struct FlakyTest: Sendable, Hashable, Encodable {
    /// The test's qualified name, or the gate's name when its runs have no results.
    public var test: String
    public var gate: String
    /// Flake verdicts that named it: it failed, then passed on a rerun of the same tree.
    public var flakes: Int
    /// Gate runs on record that ran it (a gate without results: runs of the gate).
    public var runs: Int
    public var lastSeen: Timestamp
    /// Quarantined now: its failures do not decide its gate.
    public var quarantined = false

    /// Flakes per run.
    public var failureRate: Double { runs > 0 ? Double(flakes) / Double(runs) : 0 }

    enum CodingKeys: String, CodingKey {
        case test, gate, flakes, runs, quarantined
        case failureRate = "failure_rate"
        case lastSeen = "last_seen"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(test, forKey: .test)
        try container.encode(gate, forKey: .gate)
        try container.encode(flakes, forKey: .flakes)
        try container.encode(runs, forKey: .runs)
        try container.encode((failureRate * 10_000).rounded() / 10_000, forKey: .failureRate)
        try container.encode(lastSeen, forKey: .lastSeen)
        try container.encode(quarantined, forKey: .quarantined)
    }
}

extension Engine {
    /// Every test a flake verdict named, the most flakes first: from each passing rerun (metadata
    /// `rerun_of`), the tests its failed runs named (`failed_tests`) that it passed.
    public func flakyTests() async throws -> [FlakyTest] {
        let records = try await gates.list(GateFilter())
        var found: [String: FlakyTest] = [:]
        func key(_ gate: String, _ test: String) -> String { "\(gate)\u{0}\(test)" }
        for record in records where record.state == .passed && record.metadata["rerun_of"] != nil {
            let failed = Self.failedNames(record)
            guard !failed.isEmpty else { continue }
            let seen = record.execution.completedAt ?? record.updatedAt
            // Only those the rerun ran and passed: a test that failed again (within max_failures) is not flaky.
            for test in Pipeline.passedTests(record, of: failed) {
                var entry =
                    found[key(record.name, test)]
                    ?? FlakyTest(test: test, gate: record.name, flakes: 0, runs: 0, lastSeen: seen)
                entry.flakes += 1
                entry.lastSeen = max(entry.lastSeen, seen)
                found[key(record.name, test)] = entry
            }
        }
        guard !found.isEmpty else { return [] }
        // Runs: every finished run of the gate that ran the test (or, for a gate's own name, every run).
        for record in records where record.state == .passed || record.state == .failed {
            let cases = Set((record.results?.testCases ?? []).map(\.qualifiedName))
            for (name, entry) in found where entry.gate == record.name {
                if entry.test == record.name || cases.contains(entry.test) { found[name]?.runs += 1 }
            }
        }
        for quarantine in try await testQuarantines() {
            found[key(quarantine.gate, quarantine.test)]?.quarantined = true
        }
        return found.values.sorted {
            ($0.flakes, $0.lastSeen, $1.test) > ($1.flakes, $1.lastSeen, $0.test)
        }
    }
}
