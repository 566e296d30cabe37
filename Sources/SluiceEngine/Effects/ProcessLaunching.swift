import SluiceCore

/// What the pipeline needs to run a gate's command: start `/bin/sh -c command` in a folder, sealed
/// as asked, with a time limit and a log, and report how it ended. ``ProcessRunner`` does it for
/// real; a test can stand in one that answers from a script.
public protocol ProcessLaunching: Sendable {
    /// Runs `/bin/sh -c command` in `directory` and waits for it to end; never throws, a command that
    /// cannot start is an outcome (``ProcessOutcome/launchError``).
    ///
    /// - Parameters:
    ///   - environment: the command's whole environment.
    ///   - started: called with the process group's id once it runs.
    func run(
        shell command: String, in directory: String, timeout: Duration, grace: Duration, log logPath: String,
        logLimit: Int, environment: [String: String], sandbox: ProcessSandbox,
        started: @escaping @Sendable (Int32) -> Void
    ) async -> ProcessOutcome
}

extension ProcessRunner: ProcessLaunching {}
