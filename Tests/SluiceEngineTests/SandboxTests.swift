import Foundation
import SluiceCore
import SluiceTesting
import Testing

@testable import SluiceEngine

#if canImport(Glibc)
    import Glibc
#endif

/// Gates run sealed: real bubblewrap, real processes, a real loopback listener.
@Suite("Sealed gates")
struct SandboxTests {
    /// bubblewrap as the pipeline finds it; a failure when it is installed but cannot seal.
    static func bubblewrap() async -> String? {
        switch await ProcessSandbox.locateBubblewrap() {
        case .success(let path): return path
        case .failure(let problem):
            Issue.record("bwrap is installed but unusable: \(problem.reason)")
            return nil
        }
    }

    static var sealed: ConditionTrait {
        .enabled(if: TestBubblewrap.isInstalled, Comment(rawValue: TestBubblewrap.skipReason))
    }

    struct Run {
        let outcome: ProcessOutcome
        let log: String
    }

    static func run(
        _ command: String, sandbox: (String) -> ProcessSandbox, in directory: TemporaryDirectory,
        environment: [String: String] = ProcessRunner.allowListed(), timeout: Duration = .seconds(60)
    ) async -> Run {
        let log = directory.file("gate.log")
        let workspace = directory.file("workspace")
        try? FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        let outcome = await ProcessRunner().run(
            shell: command, in: workspace, timeout: timeout, grace: .milliseconds(500), log: log, logLimit: 1 << 20,
            environment: environment, sandbox: sandbox(workspace))
        return Run(outcome: outcome, log: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    /// Live processes whose command line is exactly `sleep <seconds>`.
    static func sleepers(_ seconds: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
            guard let pid = Int32(name),
                let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline"),
                let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8), !stat.contains(") Z ")
            else { return nil }
            let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return words == ["sleep", seconds] ? pid : nil
        }
    }

    static func noSleeperLeft(_ seconds: String) async throws -> Bool {
        for _ in 0..<50 where !sleepers(seconds).isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        return sleepers(seconds).isEmpty
    }

    // MARK: - Sealed

    @Test("sealed, a process that left the gate's group and session (setsid) dies with the gate", sealed)
    func sealedSetsid() async throws {
        guard let bwrap = await Self.bubblewrap() else { return }
        let directory = TemporaryDirectory()
        let run = await Self.run(
            "setsid sleep 4242.11 & echo started", sandbox: { ProcessSandbox(bubblewrap: bwrap, writable: [$0]) },
            in: directory)
        #expect(run.outcome.exitCode == 0 && run.log.contains("started"), "\(run.log)")
        #expect(try await Self.noSleeperLeft("4242.11"), "setsid sleep 4242.11 outlived its sealed gate")
    }

    @Test("sealed, the time limit still kills every process of the gate, detached ones included", sealed)
    func sealedTimeout() async throws {
        guard let bwrap = await Self.bubblewrap() else { return }
        let directory = TemporaryDirectory()
        let run = await Self.run(
            "setsid sleep 4242.12 & trap '' TERM; sleep 4242.13",
            sandbox: { ProcessSandbox(bubblewrap: bwrap, writable: [$0]) },
            in: directory, timeout: .seconds(1))
        #expect(run.outcome.timedOut && run.outcome.exitCode == nil)
        #expect(try await Self.noSleeperLeft("4242.12"))
        #expect(try await Self.noSleeperLeft("4242.13"))
    }

    @Test("sealed, a gate past its time limit gets SIGTERM and its grace before the namespace is killed", sealed)
    func sealedGrace() async throws {
        guard let bwrap = await Self.bubblewrap() else { return }
        let directory = TemporaryDirectory()
        let run = await Self.run(
            "trap 'echo got-term; exit 7' TERM; sleep 4242.14 & wait",
            sandbox: { ProcessSandbox(bubblewrap: bwrap, writable: [$0]) }, in: directory, timeout: .seconds(1))
        #expect(run.outcome.timedOut)
        #expect(run.log.contains("got-term"), "\(run.log)")
        #expect(try await Self.noSleeperLeft("4242.14"))
    }

    @Test("sealed, the root and HOME are read-only and readable; the workspace and a private /tmp are writable", sealed)
    func sealedFileSystem() async throws {
        guard let bwrap = await Self.bubblewrap() else { return }
        let directory = TemporaryDirectory()
        let outside = TemporaryDirectory()
        let home = try #require(ProcessInfo.processInfo.environment["HOME"])
        let probe = "sluice-sealed-probe-\(UUID().uuidString)"
        let script = """
            ls "$HOME" > /dev/null && echo home-readable
            touch "$HOME/\(probe)" 2>/dev/null && echo home-WRITTEN
            touch /usr/\(probe) 2>/dev/null && echo root-WRITTEN
            touch \(outside.path)/x 2>/dev/null && echo outside-written-privately
            ls \(outside.path) 2>/dev/null && echo outside-VISIBLE
            touch ./made-here && echo workspace-writable
            touch /tmp/\(probe) && echo tmp-writable
            """
        let run = await Self.run(
            script, sandbox: { ProcessSandbox(bubblewrap: bwrap, writable: [$0]) }, in: directory)
        #expect(run.outcome.exitCode == 0, "\(run.log)")
        #expect(run.log.contains("home-readable") && run.log.contains("workspace-writable"), "\(run.log)")
        #expect(run.log.contains("tmp-writable"), "\(run.log)")
        #expect(!run.log.contains("WRITTEN") && !run.log.contains("VISIBLE"), "\(run.log)")
        #expect(!FileManager.default.fileExists(atPath: "\(home)/\(probe)"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/\(probe)"), "the gate's /tmp is not private")
        #expect(!FileManager.default.fileExists(atPath: outside.file("x")))
        #expect(FileManager.default.fileExists(atPath: directory.file("workspace/made-here")))
    }

    @Test("sealed, a gate has no network unless it says network: true", sealed, arguments: [false, true])
    func network(allowed: Bool) async throws {
        guard let bwrap = await Self.bubblewrap() else { return }
        let listener = try LoopbackListener()
        let directory = TemporaryDirectory()
        let run = await Self.run(
            "bash -c 'exec 3<>/dev/tcp/127.0.0.1/\(listener.port)' && echo connected",
            sandbox: { ProcessSandbox(bubblewrap: bwrap, writable: [$0], network: allowed) }, in: directory)
        if allowed {
            #expect(run.outcome.exitCode == 0 && run.log.contains("connected"), "\(run.log)")
        } else {
            #expect(run.outcome.exitCode != 0 && !run.log.contains("connected"), "\(run.log)")
        }
        // The listener is reachable from outside the sandbox all along.
        let outside = await Self.run(
            "bash -c 'exec 3<>/dev/tcp/127.0.0.1/\(listener.port)' && echo connected", sandbox: { _ in .unsealed },
            in: TemporaryDirectory())
        #expect(outside.log.contains("connected"))
    }

    @Test("sealed flags: read-only root, private /tmp, own PID namespace, no capabilities, no network by default")
    func flags() {
        let sandbox = ProcessSandbox(
            bubblewrap: "/usr/bin/bwrap", writable: ["/w"], hidden: ["/tmp"], readOnly: ["/tmp"])
        let (program, arguments) = sandbox.launch(shell: "make test", in: "/w")
        #expect(program == "/usr/bin/bwrap")
        let line = arguments.joined(separator: " ")
        #expect(line.hasPrefix("--ro-bind / / --dev /dev --proc /proc --tmpfs /tmp"))
        #expect(line.contains("--unshare-pid") && line.contains("--die-with-parent") && line.contains("--cap-drop ALL"))
        #expect(line.contains("--unshare-net"))
        // Shown read-only, then hidden, then writable, in that order.
        #expect(line.contains("--ro-bind /tmp /tmp --tmpfs /tmp --bind /w /w --chdir /w -- /bin/sh -c make test"))
        let online = ProcessSandbox(bubblewrap: "/usr/bin/bwrap", network: true).launch(shell: "x", in: "/")
        #expect(!online.arguments.contains("--unshare-net"))
        #expect(ProcessSandbox.unsealed.launch(shell: "x", in: "/").program == "/bin/sh")
    }

    @Test("a bubblewrap that is missing or unusable is reported with the reason")
    func missingBubblewrap() async {
        guard case .failure(let empty) = await ProcessSandbox.locateBubblewrap(environment: ["SLUICE_BWRAP": ""]) else {
            Issue.record("an empty SLUICE_BWRAP must mean no bubblewrap")
            return
        }
        #expect(empty.reason.contains("SLUICE_BWRAP is empty"))
        guard case .failure(let none) = await ProcessSandbox.locateBubblewrap(environment: ["PATH": "/nonexistent"])
        else {
            Issue.record("no bwrap on PATH must mean no bubblewrap")
            return
        }
        #expect(none.reason.contains("not installed"))
        guard
            case .failure(let broken) = await ProcessSandbox.locateBubblewrap(environment: [
                "SLUICE_BWRAP": "/bin/false"
            ])
        else {
            Issue.record("a bubblewrap that cannot seal `true` must be refused")
            return
        }
        #expect(broken.reason.contains("cannot seal"))
    }

    @Test("bubblewrap is installed where CI runs the tests (elsewhere, the sealed tests are skipped, saying why)")
    func installed() {
        if ProcessInfo.processInfo.environment["CI"] == "true" { #expect(TestBubblewrap.isInstalled) }
    }

    // MARK: - Unsealed

    @Test("the environment is an allow-list, with and without a seal: a secret stays out unless passed")
    func environment() async throws {
        let inherited = [
            "PATH": "/usr/bin:/bin", "HOME": "/home/x", "LANG": "C.UTF-8", "LC_ALL": "C", "TERM": "xterm", "TZ": "UTC",
            "MY_API_SECRET": "hunter2", "AWS_SECRET_ACCESS_KEY": "k",
        ]
        let closed = Pipeline.environment(
            for: GateConfig(name: "g", type: .custom, command: "x"), cache: "/c", inherited: inherited)
        #expect(
            closed == [
                "PATH": "/usr/bin:/bin", "HOME": "/home/x", "LANG": "C.UTF-8", "LC_ALL": "C", "TERM": "xterm",
                "TZ": "UTC", "XDG_CACHE_HOME": "/c",
            ])
        let open = Pipeline.environment(
            for: GateConfig(
                name: "g", type: .custom, command: "x", environment: ["CI": "1"],
                passEnvironment: ["MY_API_SECRET", "NOT_SET"]),
            cache: "/c", inherited: inherited)
        #expect(open["MY_API_SECRET"] == "hunter2" && open["CI"] == "1" && open["NOT_SET"] == nil)
        #expect(open["AWS_SECRET_ACCESS_KEY"] == nil)
        // What the process really sees: only what it is given, nothing of this process's own (HOME).
        let directory = TemporaryDirectory()
        let run = await Self.run(
            "env", sandbox: { _ in .unsealed }, in: directory, environment: ["PATH": "/usr/bin:/bin", "ONLY": "this"])
        #expect(run.log.contains("ONLY=this") && !run.log.contains("HOME="), "\(run.log)")
    }
}

/// A TCP listener on 127.0.0.1 with a port of the kernel's choosing; closed when released.
final class LoopbackListener: Sendable {
    let descriptor: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        descriptor = fd
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(descriptor) }
}
