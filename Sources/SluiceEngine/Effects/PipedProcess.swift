import CProcessControl
import Dispatch
import Foundation
import SluiceCore
import Synchronization

/// A short-lived program run to its end with its output captured: what git commands need, at the
/// cost of one `posix_spawn` (no copy of this process's memory, which a fork makes and which cost
/// about 2 ms a command here) and one hop to a Dispatch thread that feeds and reads the pipes.
package enum PipedProcess {
    /// How the program ended and what it printed.
    struct Result: Sendable {
        /// The exit code, or 128 + the signal that ended it.
        var status: Int32
        var stdout: [UInt8]
        var stderr: [UInt8]
        /// More came on standard output than the limit; the rest was dropped.
        var stdoutTruncated: Bool
        /// It ran past its time limit and was killed (`status` then says SIGKILL).
        var timedOut = false
    }

    /// Runs `program` (looked up on PATH) with `arguments`, this process's environment with
    /// `environment` over it, in `directory`, feeding it `input`. It stays in this process's group,
    /// so a Ctrl-C at the terminal reaches it too. Cancelling the task sends it SIGTERM (git removes
    /// its lock files on it), and the run still waits for its end (and for whatever it left holding
    /// its output: real git leaves nothing). Past `timeout` it is killed (SIGKILL) and the result says
    /// so; what it started and left holding its output gets 2 s more before this stops reading.
    ///
    /// - Throws: ``SluiceError`` (`storage`) when the program cannot be started or read.
    static func run(
        _ program: String, _ arguments: [String], environment: [String: String], directory: String?,
        input: [UInt8]?, outputLimit: Int, errorLimit: Int, timeout: Duration? = nil
    ) async throws -> Result {
        let milliseconds = timeout.map {
            Int32(clamping: $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000)
        }
        var variables = ProcessInfo.processInfo.environment
        for (key, value) in environment { variables[key] = value }
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child = sluice_piped_child()
        let started: Int32 =
            if let directory {
                directory.withCString { sluice_spawn_piped(program, argv, envp, $0, &child) }
            } else {
                sluice_spawn_piped(program, argv, envp, nil, &child)
            }
        guard started == 0 else {
            throw SluiceError(code: .storage, message: "cannot start \(program): \(String(cString: strerror(started)))")
        }
        let running = child
        // Set once the program has ended, before it is reaped: after that, its pid may be another's.
        let ended = Mutex(false)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async {
                    let result = Swift.Result {
                        try collect(
                            running, input ?? [], outputLimit: outputLimit, errorLimit: errorLimit,
                            timeoutMilliseconds: milliseconds.map { max(0, $0) } ?? -1)
                    }
                    ended.withLock { $0 = true }
                    sluice_reap(running.pid)
                    continuation.resume(with: result)
                }
            }
        } onCancel: {
            ended.withLock { ended in
                if !ended { kill(running.pid, SIGTERM) }
            }
        }
    }

    /// Kills `root` and every process descended from it (SIGKILL), found by their parents in /proc
    /// (``ProcStatus``): what a hung git started (a hook, a filter) goes with it. Each is stopped as it
    /// is found, so that none starts another while the tree is read. A process that left the tree
    /// (its parent died before, and it was adopted) is not found.
    static func killTree(_ root: pid_t) {
        var found: Set<Int32> = [root]
        kill(root, SIGSTOP)
        while true {
            let more = ProcStatus.all().filter { found.contains($0.parent) && !found.contains($0.pid) && !$0.isZombie }
            guard !more.isEmpty else { break }
            for process in more {
                kill(process.pid, SIGSTOP)
                found.insert(process.pid)
            }
        }
        for pid in found { kill(pid, SIGKILL) }
    }

    /// Feeds, reads and waits, blocking the calling (Dispatch) thread.
    private static func collect(
        _ running: sluice_piped_child, _ input: [UInt8], outputLimit: Int, errorLimit: Int, timeoutMilliseconds: Int32
    ) throws -> Result {
        var child = running
        var output = sluice_buffer()
        var error = sluice_buffer()
        defer {
            free(output.bytes)
            free(error.bytes)
        }
        var status: Int32 = 0
        var timedOut: Int32 = 0
        let failure = input.withUnsafeBufferPointer { bytes in
            sluice_collect_piped(
                &child, bytes.baseAddress, bytes.count, &output, outputLimit, &error, errorLimit, timeoutMilliseconds,
                { PipedProcess.killTree($0) }, &timedOut, &status)
        }
        guard failure == 0 else {
            throw SluiceError(
                code: .storage, message: "lost the output of a program it ran: \(String(cString: strerror(failure)))")
        }
        func bytes(_ buffer: sluice_buffer) -> [UInt8] {
            guard let start = buffer.bytes else { return [] }
            return Array(UnsafeBufferPointer(start: start, count: buffer.length))
        }
        return Result(
            status: status, stdout: bytes(output), stderr: bytes(error), stdoutTruncated: output.truncated != 0,
            timedOut: timedOut != 0)
    }
}
