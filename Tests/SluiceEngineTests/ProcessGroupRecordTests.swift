import Foundation
import Testing

@testable import SluiceEngine

#if canImport(Glibc)
    import Glibc
#endif

/// Recovery kills a crashed run's gate only if its process group is provably the same one.
@Suite("Process group records")
struct ProcessGroupRecordTests {
    /// A `sleep` that leads its own session and process group.
    func leader() throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        process.arguments = ["sleep", "30"]
        try process.run()
        return process
    }

    func waitForGroup(_ pid: Int32) async throws -> ProcessGroupRecord {
        for _ in 0..<100 {
            if let record = ProcessGroupRecord.current(leader: pid), ProcSnapshot(pid: pid)?.processGroup == pid {
                return record
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw CancellationError()
    }

    @Test("a record round-trips through its line")
    func line() throws {
        let record = ProcessGroupRecord(pgid: 4242, bootID: "b-1", leaderStart: 99)
        #expect(ProcessGroupRecord(line: record.line) == record)
        #expect(ProcessGroupRecord(line: "1 b 2") == nil)
        #expect(ProcessGroupRecord(line: "nonsense") == nil)
    }

    @Test("a group whose leader started at another time, or in another boot, is left alone")
    func notOurs() async throws {
        let process = try leader()
        defer {
            // SIGKILL: the test runner may hand its children an ignored SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let record = try await waitForGroup(process.processIdentifier)
        #expect(
            !ProcessGroupRecord(pgid: record.pgid, bootID: record.bootID, leaderStart: record.leaderStart + 1)
                .killIfStillOurs())
        #expect(
            !ProcessGroupRecord(pgid: record.pgid, bootID: "another-boot", leaderStart: record.leaderStart)
                .killIfStillOurs())
        #expect(process.isRunning)
    }

    @Test("the same group is killed")
    func ours() async throws {
        let process = try leader()
        let record = try await waitForGroup(process.processIdentifier)
        #expect(record.killIfStillOurs())
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        // Gone now: nothing to kill.
        #expect(!record.killIfStillOurs())
    }
}
