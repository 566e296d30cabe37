/// The format of a gate's results file.
public enum ReportFormat: String, CaseIterable, Sendable {
    case junit, tap

    /// The format a file name suggests: `.tap` is TAP, anything else JUnit XML.
    public static func guess(from path: String) -> ReportFormat {
        path.lowercased().hasSuffix(".tap") ? .tap : .junit
    }
}

/// One gate of `sluice.yml`.
public struct GateConfig: Hashable, Sendable {
    public var name: String
    public var type: GateType
    /// Run with `/bin/sh -c` in the workspace.
    public var command: String
    /// Where the command writes its test report, relative to the workspace; nil: judge by exit code.
    public var results: String?
    public var resultsFormat: ReportFormat
    /// Where the command writes Cobertura XML or lcov coverage, relative to the workspace.
    public var coverage: String?
    public var criteria: GateCriteria
    /// Whether the gate may reach the network (sealed gates have none).
    public var network: Bool
    /// Variables set for the gate (`env:`), over the allow-listed ones.
    public var environment: [String: String]
    /// Names of Sluice's own variables passed through to the gate (`pass_env:`).
    public var passEnvironment: [String]

    public init(
        name: String, type: GateType, command: String, results: String? = nil, resultsFormat: ReportFormat? = nil,
        coverage: String? = nil, criteria: GateCriteria = GateCriteria(), network: Bool = false,
        environment: [String: String] = [:], passEnvironment: [String] = []
    ) {
        self.name = name
        self.type = type
        self.command = command
        self.results = results
        self.resultsFormat = resultsFormat ?? results.map(ReportFormat.guess(from:)) ?? .junit
        self.coverage = coverage
        self.criteria = criteria
        self.network = network
        self.environment = environment
        self.passEnvironment = passEnvironment
    }

    /// The time limit: the criteria's, else ten minutes.
    public var timeoutSeconds: Int { criteria.timeoutSeconds ?? 600 }
}

/// How gates are sealed (`sandbox:` in `sluice.yml`).
public enum SandboxMode: String, CaseIterable, Sendable {
    /// bubblewrap when it is installed and works; otherwise unsealed, with a warning on every run.
    case auto
    /// bubblewrap, or the run stops: never unsealed.
    case bubblewrap
    /// Unsealed: the gate sees what Sluice sees (its environment is still allow-listed).
    case none
}

/// How supervisors run agents (`workers:` in `sluice.yml`); the options of `sluice worker run` and
/// `sluice run --workers` override each.
public struct WorkerDefaults: Hashable, Sendable {
    public var heartbeatSeconds: Double = 10
    public var leaseSeconds: Double = 45
    public var timeoutSeconds: Double = 3600
    public var stallSeconds: Double = 300
    public var burnSeconds: Double = 900
    public var loopRepeats: Int = 50
    public var keepFailed: Int = 5
    public var keepFailedBytes: Int64 = 1 << 30
    public var maxRunning: Int?
    public var network: Bool = true
    /// What a task without `--estimate` holds on the budgets it counts against (`default_estimate`).
    public var defaultEstimate: CostEstimate?

    public init() {}
}

/// `merge_queue:` in `sluice.yml`: how many queued patches a run gates together.
public struct MergeQueueSettings: Hashable, Sendable {
    /// Up to this many queued patches are stacked, one commit each, and gated once at the top;
    /// 1 gates every patch alone.
    public var batchSize = 1
    /// How long `sluice run --watch` waits for a batch to fill before it gates a smaller one.
    public var batchWaitSeconds = 0
    /// Up to this many batches are stacked one on another and their first gate runs go at once, each
    /// in its own workspace (speculative gates): a batch is gated as if those below it will pass.
    public var maxParallel = 1

    public init(batchSize: Int = 1, batchWaitSeconds: Int = 0, maxParallel: Int = 1) {
        self.batchSize = batchSize
        self.batchWaitSeconds = batchWaitSeconds
        self.maxParallel = maxParallel
    }

    /// The most patches one turn of the queue takes: `max_parallel` batches.
    public var patchesPerTurn: Int { batchSize * maxParallel }

    /// The largest batch: bisecting 32 patches takes at most 7 gate runs for one culprit.
    public static let maxBatchSize = 32
    /// The most batches gated at once.
    public static let maxParallelBatches = 8
}

/// `flaky:` in `sluice.yml`: what a run does before it blames a patch for a failed gate.
public struct FlakySettings: Hashable, Sendable {
    /// A gate that fails with the patch is run again, with the same tree, up to this many times: a
    /// pass on a rerun means the gate's failure was flaky, and the patch is not blamed for it. 0 (the
    /// default) blames the patch for the first failure, and checks nothing on the target branch.
    public var reruns = 0
    /// A test that flake verdicts named this many times (since it was last released) is quarantined:
    /// it still runs and is reported, but its failures no longer decide its gate. 0 (the default)
    /// quarantines nothing by itself. A gate's `required_tests` are never quarantined this way.
    public var quarantineAfter = 0
    /// A test Sluice quarantined is released once this many runs of its gate in a row ran it and passed it.
    public var releaseAfter = 10

    public init(reruns: Int = 0, quarantineAfter: Int = 0, releaseAfter: Int = 10) {
        self.reruns = reruns
        self.quarantineAfter = quarantineAfter
        self.releaseAfter = releaseAfter
    }

    /// The most reruns of one failed gate.
    public static let maxReruns = 5
    /// The bound of `quarantine_after` and `release_after`.
    public static let maxCount = 1000
}

/// `sluice.yml`: the target branch, the gates, the patch policy and cost rates.
/// It is always read from the target branch, never from a patch.
public struct SluiceConfig: Hashable, Sendable {
    public var targetBranch: String
    public var gates: [GateConfig]
    public var policy: PatchPolicy
    /// What one second of gate time costs (a `compute_time` cost per gate run).
    public var computeRate: ExactDecimal
    public var currency: Currency
    /// The most bytes of a gate's output kept in its log (the end is kept).
    public var logLimitBytes: Int
    /// Seconds between SIGTERM and SIGKILL when a gate overruns.
    public var graceSeconds: Int
    /// Whether patches may land when no gate is configured (`allow_ungated`); otherwise a run stops.
    public var allowUngated: Bool
    /// How gates (and agents) are sealed.
    public var sandbox: SandboxMode
    /// How supervisors run agents.
    public var workers = WorkerDefaults()
    /// How many patches are gated together.
    public var mergeQueue = MergeQueueSettings()
    /// How a failed gate is told from a flaky one, or from a target branch that fails on its own.
    public var flaky = FlakySettings()

    public init(
        targetBranch: String, gates: [GateConfig] = [], policy: PatchPolicy = PatchPolicy(),
        computeRate: ExactDecimal = .zero, currency: Currency = .usd, logLimitBytes: Int = 1 << 20,
        graceSeconds: Int = 5, allowUngated: Bool = false, sandbox: SandboxMode = .auto
    ) {
        self.targetBranch = targetBranch
        self.gates = gates
        self.policy = policy
        self.computeRate = computeRate
        self.currency = currency
        self.logLimitBytes = logLimitBytes
        self.graceSeconds = graceSeconds
        self.allowUngated = allowUngated
        self.sandbox = sandbox
    }
}
