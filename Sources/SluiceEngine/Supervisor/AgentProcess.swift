import Foundation
import Subprocess
import Synchronization

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// How an agent's process ended.
struct AgentExit: Sendable {
    /// The exit code; nil when a signal ended it or it never started.
    var exitCode: Int32?
    var signal: Int32?
    /// Why it could not be started.
    var launchError: String?
}

/// An agent's process group, for the supervisor to pause, resume and stop while it runs.
final class AgentGroup: Sendable {
    private let leader = Mutex<Int32?>(nil)

    func set(_ pid: Int32) { leader.withLock { $0 = pid } }
    var pid: Int32? { leader.withLock { $0 } }

    /// Sends `signal` to every process of the group.
    func signal(_ signal: Int32) {
        guard let pid, pid > 1 else { return }
        _ = kill(-pid, signal)
    }

    /// SIGCONT (a paused agent cannot act on SIGTERM), SIGTERM, then SIGKILL after `grace`.
    func stop(grace: Duration) async {
        signal(SIGCONT)
        signal(SIGTERM)
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        while clock.now < deadline, let pid, ProcSnapshot.anyProcess(inGroup: pid) {
            try? await Task.sleep(for: .milliseconds(50))
        }
        signal(SIGKILL)
    }

}

enum AgentProcess {
    /// Starts `command` in `directory` in a session and process group of its own, standard input
    /// closed, standard output and error to `stdoutPath` and `stderrPath`, sealed by `sandbox`, with
    /// only `environment`. `monitor` runs while the agent lives (it watches, pauses and stops it
    /// through the group) and is cancelled when the agent ends; whatever the agent left in its group
    /// is then killed.
    static func run(
        _ command: [String], in directory: String, environment: [String: String], sandbox: ProcessSandbox,
        stdoutPath: String, stderrPath: String, group: AgentGroup,
        monitor: @escaping @Sendable () async -> Void
    ) async -> AgentExit {
        let output: FileDescriptor
        let error: FileDescriptor
        do {
            output = try FileDescriptor.open(
                FilePath(stdoutPath), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
            error = try FileDescriptor.open(
                FilePath(stderrPath), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
        } catch {
            return AgentExit(launchError: "cannot open the agent's logs: \(error)")
        }
        var resolved = command
        if sandbox.bubblewrap == nil, !command[0].contains("/") {
            guard let found = locate(command[0], path: environment["PATH"]) else {
                try? output.close()
                try? error.close()
                return AgentExit(launchError: "\(command[0]) is not on PATH")
            }
            resolved[0] = found
        }
        let (program, arguments) = sandbox.launch(resolved, in: directory)
        var options = PlatformOptions()
        options.createSession = true
        var variables: [Environment.Key: String] = [:]
        for (key, value) in environment { variables[Environment.Key(stringLiteral: key)] = value }
        // The agent leads a session of its own, like a gate: registered as one, so that an unsealed
        // gate's sweep of orphans (`sluice run` runs both) neither kills it nor reaps it.
        OrphanReaper.willStart()
        let leader = Mutex<Int32?>(nil)
        defer {
            if let pid = leader.withLock({ $0 }) { OrphanReaper.didEnd(pid) } else { OrphanReaper.didStart(nil) }
        }
        do {
            let result = try await Subprocess.run(
                .path(FilePath(program)), arguments: Arguments(arguments), environment: .custom(variables),
                workingDirectory: FilePath(directory), platformOptions: options, input: .none,
                output: .fileDescriptor(output, closeAfterSpawningProcess: true),
                error: .fileDescriptor(error, closeAfterSpawningProcess: true)
            ) { execution in
                let pid = execution.processIdentifier.value
                OrphanReaper.didStart(pid)
                leader.withLock { $0 = pid }
                group.set(pid)
                await withTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { await monitor() }
                    tasks.addTask { await AgentProcess.leaderEnd(pid) }
                    // The first to end (the agent, or the monitor that stopped it) ends both: a
                    // cancelled monitor kills the group, whose leader's end then comes.
                    await tasks.next()
                    tasks.cancelAll()
                    await tasks.waitForAll()
                }
                // Whatever the agent left in its group (a background job) ends with it.
                group.signal(SIGKILL)
            }
            switch result.terminationStatus {
            case .exited(let code): return AgentExit(exitCode: code)
            case .signaled(let signal): return AgentExit(signal: signal)
            }
        } catch {
            group.signal(SIGKILL)
            return AgentExit(launchError: "cannot start \(command[0]): \(error)")
        }
    }

    /// Returns once the process `pid` has ended, leaving it unreaped for Subprocess (its number,
    /// and its group's, stay reserved until then): a blocking wait on a thread of its own, so that
    /// a running agent costs no polling.
    static func leaderEnd(_ pid: Int32) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                var info = siginfo_t()
                while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == -1, errno == EINTR {}
                done.resume()
            }
        }
    }

    /// `name` on `path` (colon-separated), as an executable file.
    static func locate(_ name: String, path: String?) -> String? {
        (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map {
            ($0 as NSString).appendingPathComponent(name)
        }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
