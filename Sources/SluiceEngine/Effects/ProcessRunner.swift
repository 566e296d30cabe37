import Foundation
import SluiceCore
import Subprocess

#if canImport(Glibc)
    import Glibc
#endif

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// How a command ended.
public struct ProcessOutcome: Hashable, Sendable {
    /// The exit code, when the process exited by itself.
    public var exitCode: Int?
    /// The signal that ended it, if one did.
    public var signal: Int?
    /// Whether Sluice ended it for running past its time limit.
    public var timedOut: Bool
    /// Why it could not be started, if it could not.
    public var launchError: String?
    /// Wall-clock time from start to end, in whole milliseconds (exact, for cost records).
    public var milliseconds: Int64
    /// The same in seconds, for display.
    public var seconds: Double { Double(milliseconds) / 1000 }
    /// Whether the log file was cut to its limit (its end is kept).
    public var logTruncated: Bool

    public init(
        exitCode: Int?, signal: Int? = nil, timedOut: Bool = false, launchError: String? = nil, milliseconds: Int64,
        logTruncated: Bool = false
    ) {
        self.exitCode = exitCode
        self.signal = signal
        self.timedOut = timedOut
        self.launchError = launchError
        self.milliseconds = milliseconds
        self.logTruncated = logTruncated
    }
}

/// Runs shell commands for gates: in their own session and process group, with a time limit
/// (SIGTERM to the group, then SIGKILL after a grace period), output captured to a bounded log,
/// sealed by a ``ProcessSandbox`` when one is given, with only the environment it is given.
/// When the command ends, whatever is left of its process group is killed; a sealed command's PID
/// namespace dies with it, and what an unsealed one left outside its group is found as an orphan
/// (``OrphanReaper``): no process of a gate outlives it.
public struct ProcessRunner: Sendable {
    public init() {}

    /// The variables a gate keeps from Sluice's environment: `PATH`, `HOME`, `LANG`, `LC_*`, `TERM`, `TZ`.
    public static func allowListed(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        -> [String: String]
    {
        environment.filter { key, _ in
            ["PATH", "HOME", "LANG", "TERM", "TZ"].contains(key) || key.hasPrefix("LC_")
        }
    }

    /// Runs `/bin/sh -c command` in `directory`.
    ///
    /// - Parameters:
    ///   - environment: the command's whole environment (nothing else is inherited).
    ///   - sandbox: how the command is sealed.
    ///   - started: called with the process group's id (the leader's pid) once it runs.
    public func run(
        shell command: String, in directory: String, timeout: Duration, grace: Duration, log logPath: String,
        logLimit: Int, environment: [String: String] = ProcessRunner.allowListed(),
        sandbox: ProcessSandbox = .unsealed, started: @escaping @Sendable (Int32) -> Void = { _ in }
    ) async -> ProcessOutcome {
        let clock = ContinuousClock()
        let start = clock.now
        func elapsed() -> Int64 { (clock.now - start).inMilliseconds }
        let logFile: FileDescriptor
        do {
            logFile = try FileDescriptor.open(
                FilePath(logPath), .writeOnly, options: [.create, .truncate],
                permissions: [.ownerReadWrite, .groupRead])
        } catch {
            return ProcessOutcome(
                exitCode: nil, signal: nil, timedOut: false, launchError: "cannot open the log \(logPath): \(error)",
                milliseconds: elapsed(), logTruncated: false)
        }
        var platformOptions = PlatformOptions()
        platformOptions.createSession = true
        // Sealed, SIGTERM to bubblewrap would end the namespace at once: the gate's own processes get
        // it instead (below), and the teardown is bubblewrap's SIGKILL, which takes the namespace.
        platformOptions.teardownSequence =
            sandbox.isSealed ? [] : [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: grace)]
        var variables: [Environment.Key: String] = [:]
        for (key, value) in environment { variables[Environment.Key(stringLiteral: key)] = value }
        let options = platformOptions
        let (program, arguments) = sandbox.launch(shell: command, in: directory)
        let group = ProcessGroupBox()
        let status: Result<TerminationStatus, any Error> = await withTaskGroup(of: RaceResult.self) { tasks in
            tasks.addTask { [variables] in
                OrphanReaper.willStart()
                var registered = false
                do {
                    let result = try await Subprocess.run(
                        .path(FilePath(program)), arguments: Arguments(arguments), environment: .custom(variables),
                        workingDirectory: FilePath(directory), platformOptions: options, input: .none,
                        output: .fileDescriptor(logFile, closeAfterSpawningProcess: true), error: .combinedWithOutput
                    ) { execution in
                        OrphanReaper.didStart(execution.processIdentifier.value)
                        registered = true
                        group.set(execution.processIdentifier.value)
                        started(execution.processIdentifier.value)
                    }
                    return .finished(.success(result.terminationStatus))
                } catch {
                    if !registered { OrphanReaper.didStart(nil) }
                    return .finished(.failure(error))
                }
            }
            tasks.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    return .timedOut
                } catch {
                    return .cancelled
                }
            }
            while let next = await tasks.next() {
                switch next {
                case .finished(let result):
                    tasks.cancelAll()
                    return result
                case .timedOut:
                    // Cancelling the run starts its teardown: SIGTERM to the group, SIGKILL after the grace.
                    group.markTimedOut()
                    if sandbox.isSealed, let leader = group.leader {
                        await ProcessRunner.terminateSealed(group: leader, grace: grace)
                    }
                    tasks.cancelAll()
                case .cancelled:
                    break
                }
            }
            return .failure(CancellationError())
        }
        // Kill whatever the command left behind in its group (background jobs, grandchildren), then,
        // unsealed, what left the group; sealed, the PID namespace took everything with it.
        group.killAll()
        if let leader = group.leader { OrphanReaper.didEnd(leader) }
        if sandbox.isSealed {
            OrphanReaper.reapExited()
        } else {
            await OrphanReaper.killOrphans(session: group.leader)
        }
        let truncated = ProcessRunner.truncate(logPath, to: logLimit)
        switch status {
        case .success(.exited(let code)):
            return ProcessOutcome(
                exitCode: Int(code), signal: nil, timedOut: group.timedOut, launchError: nil, milliseconds: elapsed(),
                logTruncated: truncated)
        case .success(.signaled(let signal)):
            return ProcessOutcome(
                exitCode: nil, signal: Int(signal), timedOut: group.timedOut, launchError: nil, milliseconds: elapsed(),
                logTruncated: truncated)
        case .failure(let error):
            if group.timedOut {
                return ProcessOutcome(
                    exitCode: nil, signal: Int(SIGKILL), timedOut: true, launchError: nil, milliseconds: elapsed(),
                    logTruncated: truncated)
            }
            return ProcessOutcome(
                exitCode: nil, signal: nil, timedOut: false, launchError: "\(error)", milliseconds: elapsed(),
                logTruncated: truncated)
        }
    }

    /// SIGTERM to the sealed gate's processes in its group (all but bubblewrap's own two), then up
    /// to `grace` for them to end.
    static func terminateSealed(group leader: Int32, grace: Duration) async {
        func members() -> [Int32] {
            ProcStatus.all().filter { process in
                guard process.group == leader, !process.isZombie else { return false }
                let name = (try? String(contentsOfFile: "/proc/\(process.pid)/comm", encoding: .utf8)) ?? ""
                return name.trimmingCharacters(in: .whitespacesAndNewlines) != "bwrap"
            }.map(\.pid)
        }
        for pid in members() { _ = kill(pid, SIGTERM) }
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        while clock.now < deadline, !members().isEmpty {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private enum RaceResult: Sendable {
        case finished(Result<TerminationStatus, any Error>)
        case timedOut
        case cancelled
    }

    /// Keeps the last `limit` bytes of the log, with a note at the top; returns whether it cut.
    static func truncate(_ path: String, to limit: Int) -> Bool {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = attributes[.size] as? Int, size > limit,
            let handle = FileHandle(forReadingAtPath: path)
        else { return false }
        defer { try? handle.close() }
        try? handle.seek(toOffset: UInt64(size - limit))
        let tail = handle.readDataToEndOfFile()
        var data = Data("[sluice: the first \(size - limit) bytes of output were dropped]\n".utf8)
        data.append(tail)
        try? data.write(to: URL(fileURLWithPath: path))
        return true
    }
}

/// The process group of a running command, shared between the task that runs it and the
/// timer: both only touch it under the lock.
final class ProcessGroupBox: @unchecked Sendable {
    // @unchecked: every access to the fields goes through `lock`.
    private let lock = NSLock()
    private var pid: pid_t?
    private var didTimeOut = false

    func set(_ pid: pid_t) { lock.withLock { self.pid = pid } }
    var leader: pid_t? { lock.withLock { pid } }
    func markTimedOut() { lock.withLock { didTimeOut = true } }
    var timedOut: Bool { lock.withLock { didTimeOut } }

    /// SIGKILL to the whole group; the group id is the session leader's pid.
    func killAll() {
        lock.withLock {
            if let pid { _ = kill(-pid, SIGKILL) }
        }
    }
}
