import Foundation
import SluiceEngine
import SluiceTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Real processes, real signals.
@Suite("Process runner")
struct ProcessRunnerTests {
    func run(_ command: String, timeout: Duration = .seconds(60), logLimit: Int = 1 << 20) async -> (
        ProcessOutcome, String, TemporaryDirectory
    ) {
        let directory = TemporaryDirectory()
        let log = directory.file("gate.log")
        let outcome = await ProcessRunner().run(
            shell: command, in: directory.path, timeout: timeout, grace: .milliseconds(500), log: log,
            logLimit: logLimit)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (outcome, text, directory)
    }

    /// Whether a process with this pid is alive (zombies count as gone).
    func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return !status.contains(") Z ")
    }

    @Test("exit codes and output are captured in the working directory")
    func exitCode() async {
        let (outcome, log, directory) = await run("echo out; echo err >&2; pwd; exit 3")
        #expect(outcome.exitCode == 3 && !outcome.timedOut && outcome.launchError == nil)
        #expect(log.contains("out") && log.contains("err"))
        #expect(
            log.contains(URL(fileURLWithPath: directory.path).resolvingSymlinksInPath().path)
                || log.contains(directory.path))
    }

    @Test("a command past its time limit is stopped, and no process of it survives, not even a background grandchild")
    func timeout() async throws {
        let (outcome, log, _) = await run(
            "sh -c 'trap \"\" TERM; sleep 60' & echo grandchild=$!; trap '' TERM; sleep 60", timeout: .seconds(1))
        #expect(outcome.timedOut)
        #expect(outcome.exitCode == nil)
        let line = try #require(log.split(separator: "\n").first { $0.hasPrefix("grandchild=") })
        let pid = try #require(Int32(line.dropFirst("grandchild=".count)))
        // Give the kernel a moment to deliver SIGKILL.
        for _ in 0..<50 where isAlive(pid) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!isAlive(pid), "the background grandchild \(pid) is still running")
    }

    @Test("background jobs left by a command that exits are killed too")
    func leftovers() async throws {
        let (outcome, log, _) = await run("sleep 60 & echo child=$!; exit 0")
        #expect(outcome.exitCode == 0)
        let line = try #require(log.split(separator: "\n").first { $0.hasPrefix("child=") })
        let pid = try #require(Int32(line.dropFirst("child=".count)))
        for _ in 0..<50 where isAlive(pid) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!isAlive(pid))
    }

    @Test("the log keeps the end of the output within its limit")
    func boundedLog() async {
        let (outcome, log, _) = await run(
            "i=0; while [ $i -lt 5000 ]; do echo line-$i; i=$((i+1)); done", logLimit: 2048)
        #expect(outcome.exitCode == 0 && outcome.logTruncated)
        #expect(log.utf8.count < 2048 + 100)
        #expect(log.contains("line-4999") && !log.contains("line-1\n"))
    }
}
