import Foundation

/// Runs the built `sluice` executable as a real process.
public enum CommandLineProcess {
    /// What a run printed and how it exited.
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    /// The `sluice` binary built beside the test bundle.
    public static var executable: String {
        let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for directory in [bundle, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()] {
            let candidate = directory.appendingPathComponent("sluice").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return bundle.appendingPathComponent("sluice").path
    }

    /// Runs `sluice` with `arguments`, feeding `input` to its standard input, and waits for it on a
    /// thread of its own: a test that blocked one of the concurrency pool's few threads (two on a
    /// 2-core machine) for the seconds a command runs would starve every other test running beside it,
    /// and a starved test misses the moment it waits for.
    public static func run(
        _ arguments: [String], input: String? = nil, environment: [String: String] = [:],
        directory: String? = nil
    ) async throws -> Result {
        try await runProgram(
            executable, arguments, input: input, environment: commandEnvironment(environment), directory: directory)
    }

    /// Runs `sluice` on the calling thread: for a thread of the test's own, never a task.
    public static func runBlocking(
        _ arguments: [String], input: String? = nil, environment: [String: String] = [:],
        directory: String? = nil
    ) throws -> Result {
        try runProgramBlocking(
            executable, arguments, input: input, environment: commandEnvironment(environment), directory: directory)
    }

    /// The test process's environment without its database, with `SLUICE_ACTOR=test` and `extra`.
    private static func commandEnvironment(_ extra: [String: String]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "SLUICE_DB")
        env["SLUICE_ACTOR"] = "test"
        for (key, value) in extra { env[key] = value }
        return env
    }

    /// Runs any program to completion, waiting for it on a thread of its own (see ``run(_:input:environment:directory:)``).
    public static func runProgram(
        _ path: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil,
        directory: String? = nil
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { done in
            DispatchQueue.global().async {
                done.resume(
                    with: Swift.Result {
                        try runProgramBlocking(
                            path, arguments, input: input, environment: environment, directory: directory)
                    })
            }
        }
    }

    /// Runs any program to completion on the calling thread, reading both of its outputs while it
    /// runs: for a quick program (git) called from synchronous code.
    public static func runProgramBlocking(
        _ path: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil,
        directory: String? = nil
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let stdout = Pipe()
        let stderr = Pipe()
        let stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        // Read both pipes to the end before waiting, so a full pipe never blocks the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = stderr.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = stdout.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }
}
