import Foundation
import SluiceCLI
import SluiceTesting
import Testing

/// One temporary database and ways to run `sluice` against it: in process (for coverage) or as the real binary.
///
/// With `SLUICE_TEST_DB=postgres` in the environment, the database is a fresh one on the test
/// process's PostgreSQL server instead of a SQLite file: CI runs these suites once per backend.
struct CLIHarness {
    let directory = TemporaryDirectory(prefix: "sluice-cli")
    /// The `--db` value: a SQLite file in ``directory``, or a PostgreSQL URL.
    let database: String

    init() {
        if CLIHarness.onPostgres {
            do {
                database = try PostgresServer.shared().makeDatabase()
            } catch {
                preconditionFailure("SLUICE_TEST_DB=postgres, but no PostgreSQL server: \(error)")
            }
        } else {
            database = directory.file("sluice.db")
        }
    }

    /// Whether the suites run against PostgreSQL (`SLUICE_TEST_DB=postgres`).
    static var onPostgres: Bool { ProcessInfo.processInfo.environment["SLUICE_TEST_DB"] == "postgres" }

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String

        /// Standard output parsed as one JSON object.
        func object() throws -> [String: Any] {
            let value = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
            return try #require(value as? [String: Any], "not a JSON object: \(stdout)")
        }

        /// Standard output parsed as JSON Lines.
        func lines() throws -> [[String: Any]] {
            try stdout.split(separator: "\n").map { line in
                try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            }
        }
    }

    /// Runs in process with `--db` pointing at this harness's database.
    @discardableResult
    func run(_ arguments: [String], input: String? = nil) async -> Output {
        // From the harness's own folder: a command that sets up the repository around it (init on a
        // server) finds none, rather than the repository the tests run in.
        let result = await SluiceRunner.execute(
            arguments + ["--db", database], input: input, directory: directory.path)
        return Output(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    /// Runs the real binary as a process with `--db` pointing at this harness's database.
    @discardableResult
    func process(_ arguments: [String], input: String? = nil) async throws -> Output {
        let result = try await CommandLineProcess.run(
            arguments + ["--db", database], input: input, directory: directory.path)
        return Output(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    /// Runs the real binary on the calling thread: for a thread of the test's own, never a task.
    @discardableResult
    func processBlocking(_ arguments: [String], input: String? = nil) throws -> Output {
        let result = try CommandLineProcess.runBlocking(
            arguments + ["--db", database], input: input, directory: directory.path)
        return Output(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    /// Runs in process, expects success, and returns the JSON object printed with `--json`.
    func object(_ arguments: [String], input: String? = nil) async throws -> [String: Any] {
        let output = await run(arguments + ["--json"], input: input)
        #expect(output.status == 0, "\(arguments): \(output.stderr)")
        return try output.object()
    }

    /// Initialises the database.
    func initialise() async -> CLIHarness {
        let output = await run(["init"])
        #expect(output.status == 0, "\(output.stderr)")
        return self
    }
}
