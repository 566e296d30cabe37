import Foundation
import SluiceTesting
import Synchronization
import Testing

@testable import SluiceEngine

#if canImport(Glibc)
    import Glibc
#endif

/// Recovery kills a crashed run's gate only if its process group is provably the same one.
@Suite("Process group records")
struct ProcessGroupRecordTests {
    /// Starts `sleep` as a gate would (its own session, through the runner) and returns the running
    /// task with the group's record.
    func startGate() async throws -> (Task<ProcessOutcome, Never>, ProcessGroupRecord, TemporaryDirectory) {
        let directory = TemporaryDirectory()
        let leader = Mutex<Int32?>(nil)
        let task = Task {
            await ProcessRunner().run(
                shell: "sleep 30", in: directory.path, timeout: .seconds(120), grace: .seconds(1),
                log: directory.file("gate.log"), logLimit: 1 << 16
            ) { pid in leader.withLock { $0 = pid } }
        }
        // The machine may be busy: wait patiently for the session to exist.
        let deadline = ContinuousClock.now.advanced(by: .seconds(300))
        while ContinuousClock.now < deadline {
            if let pid = leader.withLock({ $0 }), let record = ProcessGroupRecord.current(leader: pid) {
                return (task, record, directory)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the gate never started")
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
        let (task, record, directory) = try await startGate()
        defer { withExtendedLifetime(directory) {} }
        #expect(
            !ProcessGroupRecord(pgid: record.pgid, bootID: record.bootID, leaderStart: record.leaderStart + 1)
                .killIfStillOurs())
        #expect(
            !ProcessGroupRecord(pgid: record.pgid, bootID: "another-boot", leaderStart: record.leaderStart)
                .killIfStillOurs())
        #expect(ProcSnapshot(pid: record.pgid) != nil, "the gate must still run")
        kill(-record.pgid, SIGKILL)
        _ = await task.value
    }

    @Test("the same group is killed")
    func ours() async throws {
        let (task, record, directory) = try await startGate()
        defer { withExtendedLifetime(directory) {} }
        #expect(record.killIfStillOurs())
        let outcome = await task.value
        #expect(outcome.signal == Int(SIGKILL))
        // Gone now: nothing to kill.
        #expect(!record.killIfStillOurs())
    }
}
