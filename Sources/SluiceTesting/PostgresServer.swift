import Foundation
import Synchronization

/// A throwaway PostgreSQL server for tests: `initdb` into a temporary directory, `pg_ctl start`
/// on a free loopback port (its Unix socket in that directory too), trust authentication, no
/// system service. One server per test process, started on first use; each test gets a fresh
/// database of its own from ``makeDatabase()``. The server is stopped and its directory deleted
/// when the process exits, and by a watchdog if the process dies without exiting.
///
/// When PostgreSQL's programs are missing, ``availability`` says why; tests that need the server
/// are then skipped with that reason (see ``requiresPostgres``), unless `SLUICE_REQUIRE_POSTGRES=1`
/// is set (as CI does), which turns the missing server into a failure.
public final class PostgresServer: Sendable {
    /// Whether the tests can have a server, and if not, why.
    public enum Availability: Sendable, Equatable {
        case available(binaries: String)
        case unavailable(reason: String)

        /// The reason the server cannot run, nil when it can.
        public var reason: String? {
            if case .unavailable(let reason) = self { return reason }
            return nil
        }
    }

    /// Where the server's programs are, or why there are none: decided once, without starting anything.
    public static let availability: Availability = findBinaries()

    /// True when `SLUICE_REQUIRE_POSTGRES=1`: a missing server fails the tests instead of skipping them.
    public static var isRequired: Bool { ProcessInfo.processInfo.environment["SLUICE_REQUIRE_POSTGRES"] == "1" }

    /// The marker the skipped tests' reason starts with; `.ci/run` looks for it in the test output.
    public static let skipMarker = "SLUICE-POSTGRES-SKIPPED"

    /// The skip reason shown for tests that need the server, when there is none.
    public static var skipComment: String {
        "\(skipMarker): PostgreSQL is not available (\(availability.reason ?? "")); "
            + "set SLUICE_REQUIRE_POSTGRES=1 to make this a failure"
    }

    /// The process's server, started on first use.
    ///
    /// - Throws: ``Unavailable`` with the reason when the programs are missing or the server did not start.
    public static func shared() throws -> PostgresServer {
        try sharedServer.get()
    }

    private static let sharedServer: Result<PostgresServer, Unavailable> = Result { () throws(Unavailable) in
        do { return try PostgresServer() } catch let error as Unavailable { throw error } catch {
            throw Unavailable(reason: "\(error)")
        }
    }

    /// Why there is no server.
    public struct Unavailable: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "PostgreSQL is not available for the tests: \(reason)" }
    }

    /// The loopback port the server listens on.
    public let port: Int
    /// The directory holding the data, the socket and the log.
    public let directory: String
    private let binaries: String
    private let counter = Atomic<Int>(0)

    private init() throws {
        guard case .available(let binaries) = PostgresServer.availability else {
            throw Unavailable(reason: PostgresServer.availability.reason ?? "unknown")
        }
        self.binaries = binaries
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sluice-postgres-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        let asRoot = getuid() == 0
        if asRoot {
            // initdb refuses to run as root: the server runs as the postgres user, which owns the directory.
            guard let owner = getpwnam("postgres") else {
                throw Unavailable(reason: "running as root and there is no postgres user to run the server as")
            }
            guard chown(directory, owner.pointee.pw_uid, owner.pointee.pw_gid) == 0 else {
                throw Unavailable(reason: "cannot give \(directory) to the postgres user (errno \(errno))")
            }
        }
        let log = "\(directory)/commands.log"
        let run = { (program: String, arguments: [String]) throws in
            let command =
                asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--", program] + arguments : [program] + arguments
            let status = try PostgresServer.spawnAndWait(command, output: log)
            guard status == 0 else {
                let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw Unavailable(
                    reason: "\((program as NSString).lastPathComponent) failed (exit \(status)): "
                        + output.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        let data = "\(directory)/data"
        try run(
            "\(binaries)/initdb",
            ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
        let port = try PostgresServer.freePort()
        self.port = port
        let settings = [
            "-p \(port)", "-k \(directory)", "-c listen_addresses=127.0.0.1", "-c max_connections=300",
            // A test server: nothing it holds must survive a crash of the machine.
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
        ]
        try run(
            "\(binaries)/pg_ctl",
            [
                "-D", data, "-l", "\(directory)/server.log", "-w", "-t", "60", "-o", settings.joined(separator: " "),
                "start",
            ])
        PostgresServer.stopOnExit(binaries: binaries, data: data, directory: directory, asRoot: asRoot)
    }

    /// Creates a fresh, empty database and returns its URL.
    public func makeDatabase() throws -> String {
        let name = "sluice_test_\(getpid())_\(counter.wrappingAdd(1, ordering: .relaxed).oldValue)"
        let log = "\(directory)/createdb-\(name).log"
        defer { unlink(log) }
        let status = try PostgresServer.spawnAndWait(
            ["\(binaries)/createdb", "-h", directory, "-p", "\(port)", "-U", "postgres", name], output: log)
        guard status == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw Unavailable(reason: "createdb \(name) failed (exit \(status)): \(output)")
        }
        return url(database: name)
    }

    /// The URL of `database` on this server, over loopback TCP.
    public func url(database: String) -> String {
        "postgres://postgres@127.0.0.1:\(port)/\(database)"
    }

    // MARK: - Finding and stopping

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

    /// Runs a program to its end, its output (both streams) in the file `output`, and returns its
    /// exit status. `posix_spawn` and `waitpid` rather than Foundation's `Process`, whose wait
    /// missed the end of `pg_ctl start` (whose server lives on) and hung.
    private static func spawnAndWait(_ command: [String], output: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
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
        // WIFEXITED and WEXITSTATUS, which Swift does not import.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
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

    /// The shell command that stops the server and deletes its directory.
    nonisolated(unsafe) private static var stopCommand: [CChar] = []

    private static func stopOnExit(binaries: String, data: String, directory: String, asRoot: Bool) {
        let prefix = asRoot ? "/usr/sbin/runuser -u postgres -- " : ""
        let stop =
            "\(prefix)'\(binaries)/pg_ctl' -D '\(data)' -m immediate -w stop >/dev/null 2>&1; rm -rf '\(directory)'"
        // A watchdog, for a test process that dies without running its exit handlers.
        let watchdog = Process()
        watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
        watchdog.arguments = ["-c", "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(stop)"]
        watchdog.standardInput = FileHandle.nullDevice
        watchdog.standardOutput = FileHandle.nullDevice
        watchdog.standardError = FileHandle.nullDevice
        try? watchdog.run()
        stopCommand = Array(stop.utf8CString)
        atexit {
            _ = PostgresServer.stopCommand.withUnsafeBufferPointer { system($0.baseAddress) }
        }
    }
}
