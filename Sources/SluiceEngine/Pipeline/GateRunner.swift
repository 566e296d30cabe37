import Foundation
import SluiceCore
import SluiceStore

/// Runs one configured gate in a workspace as a TestGate record, and records its compute cost.
struct GateRunner: Sendable {
    let engine: Engine
    let runner: any ProcessLaunching
    /// What `pass_env` takes variables from.
    var inherited: [String: String] = ProcessInfo.processInfo.environment

    /// Runs `gate` for `entry` in `workspace`, logging to `logDirectory/<gate>.log`, sealed by
    /// `sandbox`, with `cache` as its writable `XDG_CACHE_HOME`. Tests named in `mustRun` (those that
    /// passed on the target branch) fail the gate when absent from its results. The gate's quarantined
    /// tests do not decide it.
    func run(
        _ gate: GateConfig, for entry: PatchLedgerEntry, in workspace: String, logDirectory: String,
        config: SluiceConfig, sandbox: ProcessSandbox = .unsealed, cache: String, mustRun: [String] = [],
        metadata extra: [String: JSONValue] = [:]
    ) async throws -> (TestGateRecord, seconds: Double) {
        var metadata: [String: JSONValue] = [
            "ledger_id": .string(entry.ledgerID.description), "patch_id": .string(entry.patchID.description),
        ]
        metadata.merge(extra) { own, _ in own }
        let quarantined = try await engine.testQuarantines(gate: gate.name).map(\.test)
        var record = try await engine.gates.create(
            name: gate.name, type: gate.type, project: entry.projectID, request: entry.executionRequestID,
            criteria: gate.criteria, metadata: metadata, starting: gate.command)
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        let stem = GateRunner.logStem(gate.name, check: metadata["check"])
        let log = (logDirectory as NSString).appendingPathComponent("\(stem).log")
        let resultsPath = gate.results.map { (workspace as NSString).appendingPathComponent($0) }
        // Reports are read only as this run writes them: a stale one (or one the patch brings) is removed first.
        for report in [gate.results, gate.coverage].compactMap({ $0 }) {
            try? FileManager.default.removeItem(atPath: (workspace as NSString).appendingPathComponent(report))
        }
        // The process group's id goes to a file, so that a later run can kill what a killed run left
        // (sealed, the group is bubblewrap's: killing it ends the gate's PID namespace).
        let pidFile = (logDirectory as NSString).appendingPathComponent("\(stem).pgid")
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        let gitLink = (workspace as NSString).appendingPathComponent(".git")
        let link = FileManager.default.contents(atPath: gitLink)
        let outcome = await runner.run(
            shell: gate.command, in: workspace, timeout: .seconds(gate.timeoutSeconds),
            grace: .seconds(config.graceSeconds), log: log, logLimit: config.logLimitBytes,
            environment: Pipeline.environment(for: gate, cache: cache, inherited: inherited), sandbox: sandbox
        ) { pid in
            if let record = ProcessGroupRecord.current(leader: pid) {
                try? Data(record.line.utf8).write(to: URL(fileURLWithPath: pidFile))
            }
        }
        try? FileManager.default.removeItem(atPath: pidFile)
        if let link { try GateRunner.restore(link, at: gitLink) }
        // Stopped by the run (a speculative gate whose batch below failed): its result no longer matters.
        let ending =
            Task.isCancelled
            ? .error(message: "stopped: its result could no longer matter", exitCode: nil)
            : finish(
                gate, outcome: outcome, resultsPath: resultsPath, workspace: workspace, mustRun: mustRun,
                excused: quarantined)
        // The gate's end and what it cost are one unit: a crash between them cannot leave one without the other.
        let (_, cost) = try costRecording(
            record, entry: entry, milliseconds: outcome.milliseconds, config: config, timeLimit: gate.timeoutSeconds)
        let end = engine.gates.step(ending, record.gateID)
        record = try await engine.context.storage.write { tx in
            let ended = try end(tx)
            try cost(tx)
            return ended
        }
        return (record, outcome.seconds)
    }

    /// Turns what the process did into the gate's end state, as DESIGN.md defines it: parsed results
    /// decide passed or failed; no trustworthy results is error.
    func finish(
        _ gate: GateConfig, outcome: ProcessOutcome, resultsPath: String?, workspace: String, mustRun: [String] = [],
        excused: [String] = []
    ) -> GateEvent {
        if let problem = outcome.launchError { return .error(message: "could not start: \(problem)", exitCode: nil) }
        if outcome.timedOut {
            return .error(message: "timed out after \(gate.timeoutSeconds) s; its processes were killed", exitCode: nil)
        }
        if let signal = outcome.signal {
            return .error(message: "the command was killed by signal \(signal)", exitCode: nil)
        }
        guard let resultsPath else {
            guard let coverage = gate.coverage else {
                return .complete(exitCode: outcome.exitCode, results: nil, mustRun: [])
            }
            // A coverage-only gate: its coverage and its exit code decide.
            let file = (workspace as NSString).appendingPathComponent(coverage)
            guard let bytes = GateRunner.contents(of: file, in: workspace),
                let percent = try? CoverageReport.percent(Array(bytes))
            else {
                return .error(
                    message:
                        "the command exited \(outcome.exitCode ?? -1) and wrote no readable coverage at \(coverage)",
                    exitCode: outcome.exitCode)
            }
            return .complete(exitCode: outcome.exitCode, results: GateResults(coveragePercent: percent), mustRun: [])
        }
        guard let data = GateRunner.contents(of: resultsPath, in: workspace), !data.isEmpty else {
            return .error(
                message: "the command exited \(outcome.exitCode ?? -1) and wrote no results at \(gate.results ?? "") "
                    + "(a regular file inside the workspace, of at most \(GateRunner.reportLimit >> 20) MiB)",
                exitCode: outcome.exitCode)
        }
        var results: GateResults
        do {
            switch gate.resultsFormat {
            case .junit: results = try JUnitReport.parse(Array(data))
            case .tap: results = try TAPReport.parse(String(decoding: data, as: UTF8.self))
            }
            // Out-of-range values in a report (a count or a duration past its bound) make it untrustworthy:
            // the gate ends in error rather than the run stopping on invalid input.
            results = try results.validated()
        } catch let error as ReportError {
            return .error(message: "unreadable results: \(error.message)", exitCode: outcome.exitCode)
        } catch let error as SluiceError where error.code == .invalidInput {
            return .error(message: "unreadable results: \(error.message)", exitCode: outcome.exitCode)
        } catch {
            return .error(message: "unreadable results: \(error)", exitCode: outcome.exitCode)
        }
        if let coverage = gate.coverage,
            let bytes = GateRunner.contents(of: (workspace as NSString).appendingPathComponent(coverage), in: workspace)
        {
            results.coveragePercent = try? CoverageReport.percent(Array(bytes))
        }
        return .complete(exitCode: outcome.exitCode, results: results, mustRun: mustRun, excused: excused)
    }

    /// A `compute_time` cost: the gate's `milliseconds` at the configured rate, at most its time limit
    /// (`timeLimit` seconds) and grace. `metadata` goes with the record's own.
    func costRecording(
        _ gate: TestGateRecord, entry: PatchLedgerEntry, milliseconds: Int64, config: SluiceConfig, timeLimit: Int,
        metadata extra: [String: JSONValue] = [:]
    ) throws -> (CostRecord, Step<Void>) {
        // Charged at most the gate's time limit and grace, what its hold covers: a gate measured longer
        // ran while Sluice could not stop it (its run was paused, the machine asleep).
        let most = (Int64(timeLimit) + Int64(config.graceSeconds)) * 1000
        let charged = min(max(milliseconds, 0), most)
        let seconds = ExactDecimal(units: charged * (ExactDecimal.unitsPerOne / 1000))
        var metadata: [String: JSONValue] = [
            "ledger_id": .string(entry.ledgerID.description), "gate_id": .string(gate.gateID.description),
            "duration_seconds": .number(seconds.decimal),
        ]
        if charged < milliseconds {
            metadata["measured_seconds"] = .number(
                ExactDecimal(units: milliseconds * (ExactDecimal.unitsPerOne / 1000)).decimal)
        }
        metadata.merge(extra) { own, _ in own }
        return try engine.costs.recording(
            type: .computeTime, amount: nil, currency: config.currency, project: entry.projectID,
            request: entry.executionRequestID, resourceName: "gate:\(gate.name)",
            usage: CostUsage(quantity: seconds, unit: "seconds", rate: config.computeRate), metadata: metadata)
    }

    /// The bytes of a file the gate wrote, only if it is still inside the workspace once every
    /// symbolic link is resolved: a sealed gate may link its results to any path, and Sluice reads
    /// them unsealed (what it parses ends up in the ledger, test names and errors).
    ///
    /// Only a regular file of at most ``reportLimit`` bytes is read: a gate could otherwise make Sluice
    /// read a sparse file of gigabytes, or block on a FIFO, and stop every run behind it.
    static func contents(of path: String, in workspace: String) -> Data? {
        let root = URL(fileURLWithPath: workspace).resolvingSymlinksInPath().path
        let file = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard file.hasPrefix(root + "/"),
            let attributes = try? FileManager.default.attributesOfItem(atPath: file),
            attributes[.type] as? FileAttributeType == .typeRegular,
            let size = (attributes[.size] as? NSNumber)?.intValue, size <= reportLimit
        else { return nil }
        return FileManager.default.contents(atPath: file)
    }

    /// The largest report (results or coverage) read: 64 MiB, ten times a JUnit file of 100,000 cases.
    static let reportLimit = 64 << 20

    /// Puts the workspace's `.git` file back as it was before the gate. The workspace is the one
    /// place a sealed gate may write, and every git command Sluice runs there afterwards (commit,
    /// checkout, clean) follows that file: pointed at a git directory of the gate's making, its
    /// hooks or `core.fsmonitor` would run outside the sandbox.
    static func restore(_ link: Data, at path: String) throws {
        let files = FileManager.default
        let attributes = try? files.attributesOfItem(atPath: path)
        if attributes?[.type] as? FileAttributeType == .typeRegular, files.contents(atPath: path) == link { return }
        if attributes != nil { try files.removeItem(atPath: path) }
        try link.write(to: URL(fileURLWithPath: path))
    }

    /// The name of a gate run's log (without `.log`): the gate's, and for a rerun or a check of the
    /// target branch (metadata `check`), that too, so that each run of a gate keeps its own log.
    static func logStem(_ gate: String, check: JSONValue?) -> String {
        guard case .string(let check)? = check else { return fileName(gate) }
        return "\(fileName(gate)).\(fileName(check))"
    }

    static func fileName(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }
}
