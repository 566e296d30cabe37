import Foundation
import SluiceCore
import SluiceTesting
import Synchronization
import Testing

@testable import SluiceEngine

/// The runner git commands go through: posix_spawn, pipes fed and drained together, the exit as waitpid says.
@Suite("Piped processes")
struct PipedProcessTests {
    func run(
        _ script: String, input: [UInt8]? = nil, environment: [String: String] = [:], directory: String? = nil,
        outputLimit: Int = 1 << 20
    ) async throws -> PipedProcess.Result {
        try await PipedProcess.run(
            "sh", ["-c", script], environment: environment, directory: directory, input: input,
            outputLimit: outputLimit, errorLimit: 1 << 10)
    }

    @Test("output, error, exit code, environment and folder come back as the program left them")
    func basics() async throws {
        let folder = TemporaryDirectory()
        let result = try await run(
            "printf 'a\\0b'; echo \"$SLUICE_X\" >&2; pwd >&2; exit 7", environment: ["SLUICE_X": "given"],
            directory: folder.path)
        #expect(result.status == 7 && result.stdout == [0x61, 0, 0x62])
        let lines = String(decoding: result.stderr, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines.first == "given")
        #expect(
            lines.last.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }
                == URL(fileURLWithPath: folder.path).resolvingSymlinksInPath().path)
        let killed = try await run("kill -9 $$")
        #expect(killed.status == 128 + 9)
    }

    @Test("8 MiB in while 8 MiB comes out: no deadlock, every byte through")
    func bothWays() async throws {
        let input = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let result = try await run("cat; echo done >&2", input: input, outputLimit: 16 << 20)
        #expect(result.status == 0 && result.stdout == input && !result.stdoutTruncated)
        #expect(String(decoding: result.stderr, as: UTF8.self) == "done\n")
    }

    @Test("a program that exits without reading its input ends this process nothing (no SIGPIPE)")
    func unreadInput() async throws {
        let result = try await run("exit 3", input: Array(repeating: 0x41, count: 4 << 20))
        #expect(result.status == 3)
    }

    @Test("output past the limit is dropped and reported; the program is still read to its end")
    func limit() async throws {
        let result = try await run("head -c 100000 /dev/zero; echo end >&2", outputLimit: 1000)
        #expect(result.stdoutTruncated && result.stdout.count == 1000 && result.status == 0)
        #expect(String(decoding: result.stderr, as: UTF8.self) == "end\n")
    }

    @Test("a descriptor this process holds without close-on-exec is not the program's")
    func descriptorsClosed() async throws {
        let pipe = Pipe()
        let held = pipe.fileHandleForWriting.fileDescriptor
        let result = try await run("ls /proc/$$/fd")
        let open = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").compactMap { Int32($0) }
        #expect(held > 2 && !open.contains(held) && Set(open).isSubset(of: [0, 1, 2]), "\(open)")
        try pipe.fileHandleForWriting.close()
    }

    @Test("a program that cannot be started is an error that names it")
    func missing() async throws {
        await #expect {
            try await PipedProcess.run(
                "sluice-no-such-program", [], environment: [:], directory: nil, input: nil, outputLimit: 10,
                errorLimit: 10)
        } throws: { ($0 as? SluiceError)?.message.contains("cannot start sluice-no-such-program") == true }
    }

    @Test("cancelling the task ends the program")
    func cancellation() async throws {
        let folder = TemporaryDirectory()
        let marker = folder.file("started")
        let task = Task { try await run("touch '\(marker)'; exec sleep 30") }
        while !FileManager.default.fileExists(atPath: marker) { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        // Not 0: the program was ended by SIGTERM rather than left to finish its 30 s.
        #expect(try await task.value.status == 128 + 15)
    }

    @Test("past its time limit the program and what it started are killed; an orphan holding its output is left")
    func timeLimit() async throws {
        let folder = TemporaryDirectory()
        let (orphan, child) = (folder.file("orphan"), folder.file("child"))
        // The subshell's sleep is orphaned at once (out of the tree, holding standard output); the
        // other sleep is the shell's child.
        let result = try await PipedProcess.run(
            "sh",
            [
                "-c",
                "echo before; ( sleep 600 & echo $! > '\(orphan)' ); sleep 600 & echo $! > '\(child)'; wait",
            ], environment: [:], directory: nil, input: nil, outputLimit: 1 << 10, errorLimit: 1 << 10,
            timeout: .seconds(5))
        #expect(result.timedOut && result.status == 128 + 9)
        #expect(String(decoding: result.stdout, as: UTF8.self) == "before\n")
        let orphanPID = try #require(Self.pid(in: orphan))
        let childPID = try #require(Self.pid(in: child))
        // It came back while the orphan still held the pipes: it did not wait for it (a check free of timing).
        #expect(Self.alive(orphanPID), "the orphan had ended: the call waited for it")
        kill(orphanPID, SIGKILL)
        // The shell's own child was killed with it (it may be left a zombie until someone reaps it).
        var childAlive = true
        for _ in 0..<100 where childAlive {
            childAlive = Self.alive(childPID)
            if childAlive { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(!childAlive, "the shell's child outlived the time limit")
        let quick = try await PipedProcess.run(
            "sh", ["-c", "echo fine"], environment: [:], directory: nil, input: nil, outputLimit: 1 << 10,
            errorLimit: 1 << 10, timeout: .seconds(60))
        #expect(!quick.timedOut && quick.status == 0 && quick.stdout == Array("fine\n".utf8))
    }

    static func pid(in file: String) -> Int32? {
        Int32(
            (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
    }

    /// Running (or stopped): neither gone nor a zombie.
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z"
    }

    @Test("a git command past its time limit fails the operation with a message that says how to raise it")
    func gitTimeLimit() async throws {
        let repository = try TemporaryGitRepository(files: ["a.txt": "a\n"])
        let marker = repository.directory.file("hook-shell")
        let git = Git(repository: repository.path, timeout: .seconds(5))
        await #expect {
            try await git.run(["-c", "alias.hang=!echo $$ > '\(marker)'; sleep 600", "hang"])
        } throws: {
            let error = $0 as? SluiceError
            return error?.code == .blocked && error?.message.contains("SLUICE_GIT_TIMEOUT_SECONDS") == true
        }
        // The shell git started for the alias went with it.
        let shell = try #require(Self.pid(in: marker))
        #expect(!Self.alive(shell), "git's child outlived its time limit")
        #expect(try await git.checked(["rev-parse", "--is-inside-work-tree"]) == "true")
        #expect(Git.defaultTimeout(environment: [:]) == .seconds(600))
        #expect(Git.defaultTimeout(environment: ["SLUICE_GIT_TIMEOUT_SECONDS": "5"]) == .seconds(5))
        for ignored in ["0", "-3", "ten", "86401"] {
            #expect(Git.defaultTimeout(environment: ["SLUICE_GIT_TIMEOUT_SECONDS": ignored]) == .seconds(600))
        }
    }

    @Test("the program stays in this process's group, so a Ctrl-C at the terminal reaches it")
    func sameGroup() async throws {
        let result = try await run("ps -o pgid= -p $$")
        let group = Int32(
            String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(group == getpgrp())
    }
}
