import CProcessControl
import Foundation
import Synchronization

/// A PostgreSQL server of the process's own, for tests and benchmarks: `initdb` into a temporary
/// directory, `pg_ctl start` on a free loopback port (its Unix socket in that directory too), trust
/// authentication, no system service. When the process runs as root, the server runs as the
/// `postgres` user, which owns the directory (initdb refuses root).
///
/// ``stop()`` stops the server and deletes its directory; so does the process's exit, and a
/// watchdog when the process dies without exiting. Not product code: the tool never starts a server.
package final class ThrowawayPostgresServer: Sendable {
    /// Where PostgreSQL's programs are, or why they cannot be used.
    package enum Availability: Sendable, Equatable {
        case available(binaries: String)
        case unavailable(reason: String)

        /// The reason there can be no server, nil when there can.
        package var reason: String? {
            if case .unavailable(let reason) = self { return reason }
            return nil
        }
    }

    /// Why a server could not be had: the programs are missing, or one of them failed.
    package struct Unavailable: Error, CustomStringConvertible {
        package let reason: String
        package init(reason: String) { self.reason = reason }
        package var description: String { "PostgreSQL is not available: \(reason)" }
    }

    /// The server's durability settings, passed to `postgres` with `-c`.
    package struct Settings: Sendable, Equatable {
        /// The `-c name=value` pairs beyond the address ones; empty keeps the server's defaults.
        package var options: [String]
        /// How the settings read in a report.
        package var summary: String

        /// For tests: nothing the server holds must survive a crash of the machine.
        package static let scratch = Settings(
            options: ["fsync=off", "synchronous_commit=off", "full_page_writes=off"],
            summary: "fsync=off, synchronous_commit=off, full_page_writes=off")
        /// A real server's defaults: every commit is flushed to disk before it is acknowledged.
        package static let durable = Settings(
            options: [], summary: "defaults: fsync=on, synchronous_commit=on, full_page_writes=on")
    }

    /// Where the programs are, decided once, without starting anything.
    package static let availability: Availability = findBinaries()

    /// The loopback port the server listens on.
    package let port: Int
    /// The directory holding the data, the socket and the logs.
    package let directory: String
    /// The settings the server was started with.
    package let settings: Settings
    private let binaries: String
    private let asRoot: Bool
    private let counter = Atomic<Int>(0)
    private let watchdog: Mutex<Process?>

    /// Runs `initdb` and starts the server.
    ///
    /// - Throws: ``Unavailable`` with the reason when the programs are missing or one of them failed.
    package init(settings: Settings, maxConnections: Int = 300) throws {
        guard case .available(let binaries) = Self.availability else {
            throw Unavailable(reason: Self.availability.reason ?? "unknown")
        }
        self.binaries = binaries
        self.settings = settings
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sluice-postgres-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        let asRoot = getuid() == 0
        self.asRoot = asRoot
        if asRoot {
            guard let owner = getpwnam("postgres") else {
                throw Unavailable(reason: "running as root and there is no postgres user to run the server as")
            }
            guard chown(directory, owner.pointee.pw_uid, owner.pointee.pw_gid) == 0 else {
                throw Unavailable(reason: "cannot give \(directory) to the postgres user (errno \(errno))")
            }
        }
        let data = "\(directory)/data"
        // initdb's own syncing of the new cluster is skipped either way: it does not change how the server runs.
        try Self.run(
            "\(binaries)/initdb",
            [
                "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
                "--no-instructions",
            ],
            asRoot: asRoot, log: "\(directory)/commands.log")
        self.port = try Self.freePort()
        let options =
            ["-p \(port)", "-k \(directory)", "-c listen_addresses=127.0.0.1", "-c max_connections=\(maxConnections)"]
            + settings.options.map { "-c \($0)" }
        // Registered before the start, so a server that started but was not seen to is still stopped.
        self.watchdog = Mutex(Self.stopOnExit(directory: directory, command: Self.stopCommand(binaries, data, asRoot)))
        try Self.run(
            "\(binaries)/pg_ctl",
            [
                "-D", data, "-l", "\(directory)/server.log", "-w", "-t", "60", "-o", options.joined(separator: " "),
                "start",
            ], asRoot: asRoot, log: "\(directory)/commands.log")
    }

    /// Creates a fresh, empty database and returns its URL.
    package func makeDatabase(prefix: String = "sluice_test") throws -> String {
        let name = "\(prefix)_\(getpid())_\(counter.wrappingAdd(1, ordering: .relaxed).oldValue)"
        let log = "\(directory)/createdb-\(name).log"
        defer { unlink(log) }
        let status = try Self.spawnAndWait(
            ["\(binaries)/createdb", "-h", directory, "-p", "\(port)", "-U", "postgres", name], output: log)
        guard status == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw Unavailable(reason: "createdb \(name) failed (exit \(status)): \(output)")
        }
        return url(database: name)
    }

    /// The URL of `database` on this server, over loopback TCP.
    package func url(database: String) -> String {
        "postgres://postgres@127.0.0.1:\(port)/\(database)"
    }

    /// Stops the server (immediate shutdown: its data is deleted anyway) and deletes its directory.
    package func stop() {
        let command = Self.stopCommand(binaries, "\(directory)/data", asRoot)
        _ = try? Self.spawnAndWait(["/bin/sh", "-c", command], output: "/dev/null")
        Self.pendingStops.withLock { $0[directory] = nil }
        watchdog.withLock { process in
            process?.terminate()
            process = nil
        }
    }

    // MARK: - Programs

    private static func findBinaries() -> Availability {
        var candidates: [String] = []
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            // The newest version first: 16 before 15 before 9.6.
            let sorted = versions.sorted { $0.compare($1, options: .numeric) == .orderedDescending }
            candidates += sorted.map { "/usr/lib/postgresql/\($0)/bin" }
        }
        for entry in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append(String(entry))
        }
        let needed = ["initdb", "pg_ctl", "createdb", "postgres"]
        for directory in candidates {
            let resolved = URL(fileURLWithPath: "\(directory)/initdb").resolvingSymlinksInPath()
                .deletingLastPathComponent().path
            if needed.allSatisfy({ FileManager.default.isExecutableFile(atPath: "\(resolved)/\($0)") }) {
                if getuid() == 0 && getpwnam("postgres") == nil {
                    return .unavailable(reason: "running as root and there is no postgres user to run initdb as")
                }
                return .available(binaries: resolved)
            }
        }
        return .unavailable(
            reason: "initdb, pg_ctl, createdb and postgres were not found together in /usr/lib/postgresql/*/bin "
                + "or on PATH (Debian: apt-get install postgresql)")
    }

    /// Runs one of the server's programs (as the postgres user when root); a failure throws with its output.
    private static func run(_ program: String, _ arguments: [String], asRoot: Bool, log: String) throws {
        let command =
            asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--", program] + arguments : [program] + arguments
        let status = try spawnAndWait(command, output: log)
        guard status == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw Unavailable(
                reason: "\((program as NSString).lastPathComponent) failed (exit \(status)): "
                    + output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// Runs a program to its end, its output (both streams) in the file `output`, and returns its
    /// exit status. `posix_spawn` and `waitpid` rather than Foundation's `Process`, whose wait
    /// missed the end of `pg_ctl start` (whose server lives on) and hung.
    package static func spawnAndWait(_ command: [String], output: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing another thread holds open goes to a server that outlives this call.
        let closing = sluice_spawn_actions_close_inherited(&actions)
        guard closing == 0 else {
            throw Unavailable(reason: "cannot keep this process's descriptors from a program (error \(closing))")
        }
        let arguments = command.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, command[0], &actions, nil, arguments, environ)
        guard spawned == 0 else {
            throw Unavailable(reason: "cannot start \(command[0]) (error \(spawned))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw Unavailable(reason: "lost \(command[0]) (errno \(errno))") }
        }
        return sluice_exit_code(status)
    }

    /// A TCP port on 127.0.0.1 that nothing listens on now.
    private static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Unavailable(reason: "cannot open a socket to find a free port") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(socket, pointer, length) == 0 && getsockname(socket, pointer, &length) == 0
            }
        }
        guard bound else { throw Unavailable(reason: "cannot bind a loopback socket to find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    // MARK: - Stopping

    /// The shell command that stops the server and deletes its directory.
    private static func stopCommand(_ binaries: String, _ data: String, _ asRoot: Bool) -> String {
        let prefix = asRoot ? "/usr/sbin/runuser -u postgres -- " : ""
        let directory = (data as NSString).deletingLastPathComponent
        return "\(prefix)'\(binaries)/pg_ctl' -D '\(data)' -m immediate -w stop >/dev/null 2>&1; rm -rf '\(directory)'"
    }

    /// The stop commands of the servers not stopped yet, by directory, run when the process exits.
    private static let pendingStops = Mutex<[String: String]>([:])

    private static let exitHandler: Void = {
        atexit {
            for command in ThrowawayPostgresServer.pendingStops.withLock({ $0.values }) {
                _ = system(command)
            }
        }
    }()

    /// Registers the stop for the process's exit, and starts a watchdog for a process that dies without exiting.
    private static func stopOnExit(directory: String, command: String) -> Process? {
        _ = exitHandler
        pendingStops.withLock { $0[directory] = command }
        let watchdog = Process()
        watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
        watchdog.arguments = ["-c", "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(command)"]
        watchdog.standardInput = FileHandle.nullDevice
        watchdog.standardOutput = FileHandle.nullDevice
        watchdog.standardError = FileHandle.nullDevice
        return (try? watchdog.run()) == nil ? nil : watchdog
    }
}
