import SluiceCore
import Yams

/// Reads `sluice.yml`. Every error names the file's line.
public enum ConfigLoader {
    /// The file name, at the repository root.
    public static let fileName = "sluice.yml"

    /// Parses the YAML text of `sluice.yml`.
    ///
    /// - Parameter defaultBranch: used when the file names no `target_branch`.
    /// - Throws: ``SluiceError`` (`invalidInput`): `sluice.yml line N: …`.
    public static func parse(_ text: String, defaultBranch: String) throws -> SluiceConfig {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw SluiceError.invalidInput("\(fileName) \(describe(error))")
        }
        var config = SluiceConfig(targetBranch: defaultBranch)
        guard let root else { return config }
        let top = try mapping(root, "the file")
        try refuseUnknown(
            top,
            [
                "target_branch", "gates", "policy", "costs", "logs", "allow_ungated", "sandbox", "workers",
                "merge_queue", "flaky",
            ],
            in: "the file")
        if let branch = top["target_branch"] { config.targetBranch = try string(branch, "target_branch") }
        if let gates = top["gates"] {
            guard case .sequence(let items) = gates else { throw problem(gates, "gates must be a list") }
            config.gates = try items.map(gate)
            var seen = Set<String>()
            for (item, gate) in zip(items, config.gates) where !seen.insert(gate.name).inserted {
                throw problem(item, "two gates are named \(gate.name)")
            }
        }
        if let policy = top["policy"] { config.policy = try self.policy(policy) }
        // review_exempt may only name built-in entries that exist for these gates: a typo must not
        // silently leave a path unreviewed, nor an exemption meant for another runner go unnoticed.
        let builtIn = ReviewRules.builtInNames(gates: config.gates)
        if let unknown = config.policy.reviewExempt.subtracting(builtIn).sorted().first,
            case .mapping(let policyMap)? = top["policy"], let node = policyMap["review_exempt"]
        {
            throw problem(
                node,
                "review_exempt names '\(unknown)', which is not a built-in review entry; they are: "
                    + builtIn.sorted().joined(separator: ", "))
        }
        if let flag = top["allow_ungated"] {
            guard let value = flag.bool else { throw problem(flag, "allow_ungated must be true or false") }
            config.allowUngated = value
        }
        if let sandbox = top["sandbox"] {
            let text = try string(sandbox, "sandbox")
            guard let mode = SandboxMode(rawValue: text) else {
                throw problem(sandbox, "unknown sandbox '\(text)'; expected one of: auto, bubblewrap, none")
            }
            config.sandbox = mode
        }
        if let costs = top["costs"] {
            let map = try mapping(costs, "costs")
            try refuseUnknown(map, ["compute_rate", "currency"], in: "costs")
            if let rate = map["compute_rate"] {
                config.computeRate = try wrap(rate) { try ExactDecimal(parsing: try string(rate, "compute_rate")) }
                if config.computeRate.isNegative || config.computeRate > Limits.maxComputeRate {
                    throw problem(rate, "compute_rate must be a number from 0 to \(Limits.maxComputeRate)")
                }
            }
            if let currency = map["currency"] {
                config.currency = try wrap(currency) { try Currency(try string(currency, "currency")) }
            }
        }
        if let workers = top["workers"] { config.workers = try self.workers(workers) }
        if let queue = top["merge_queue"] {
            let map = try mapping(queue, "merge_queue")
            try refuseUnknown(map, ["batch_size", "batch_wait_seconds", "max_parallel"], in: "merge_queue")
            if let size = map["batch_size"] {
                config.mergeQueue.batchSize = try integer(size, "batch_size", 1...MergeQueueSettings.maxBatchSize)
            }
            if let wait = map["batch_wait_seconds"] {
                config.mergeQueue.batchWaitSeconds = try integer(wait, "batch_wait_seconds", 0...3600)
            }
            if let parallel = map["max_parallel"] {
                config.mergeQueue.maxParallel = try integer(
                    parallel, "max_parallel", 1...MergeQueueSettings.maxParallelBatches)
            }
        }
        if let flaky = top["flaky"] {
            let map = try mapping(flaky, "flaky")
            try refuseUnknown(map, ["reruns", "quarantine_after", "release_after"], in: "flaky")
            if let reruns = map["reruns"] {
                config.flaky.reruns = try integer(reruns, "reruns", 0...FlakySettings.maxReruns)
            }
            if let after = map["quarantine_after"] {
                config.flaky.quarantineAfter = try integer(after, "quarantine_after", 0...FlakySettings.maxCount)
                if config.flaky.quarantineAfter > 0, config.flaky.reruns == 0 {
                    throw problem(
                        after,
                        "quarantine_after needs reruns above 0: only a rerun that passes finds a test flaky")
                }
            }
            if let after = map["release_after"] {
                config.flaky.releaseAfter = try integer(after, "release_after", 1...FlakySettings.maxCount)
            }
        }
        if let logs = top["logs"] {
            let map = try mapping(logs, "logs")
            try refuseUnknown(map, ["max_bytes", "grace_seconds"], in: "logs")
            if let bytes = map["max_bytes"] {
                config.logLimitBytes = try integer(bytes, "max_bytes", 1024...Limits.maxLogBytes)
            }
            if let grace = map["grace_seconds"] {
                config.graceSeconds = try integer(grace, "grace_seconds", 1...Limits.maxGraceSeconds)
            }
        }
        return config
    }

    // MARK: - Sections

    static func workers(_ node: Node) throws -> WorkerDefaults {
        let map = try mapping(node, "workers")
        try refuseUnknown(
            map,
            [
                "heartbeat_seconds", "lease_seconds", "timeout_seconds", "stall_seconds", "burn_seconds",
                "loop_repeats", "keep_failed", "keep_failed_bytes", "max_running", "network", "default_estimate",
            ], in: "workers")
        var workers = WorkerDefaults()
        if let value = map["heartbeat_seconds"] {
            workers.heartbeatSeconds = Double(try integer(value, "heartbeat_seconds", 1...3600))
        }
        if let value = map["lease_seconds"] {
            workers.leaseSeconds = Double(try integer(value, "lease_seconds", 2...86_400))
        }
        if workers.leaseSeconds <= workers.heartbeatSeconds, let node = map["lease_seconds"] ?? map["heartbeat_seconds"]
        {
            throw problem(node, "lease_seconds must be longer than heartbeat_seconds")
        }
        for (key, path) in [
            ("timeout_seconds", \WorkerDefaults.timeoutSeconds), ("stall_seconds", \WorkerDefaults.stallSeconds),
            ("burn_seconds", \WorkerDefaults.burnSeconds),
        ] {
            if let value = map[key] { workers[keyPath: path] = Double(try integer(value, key, 0...7 * 86_400)) }
        }
        if let value = map["loop_repeats"] {
            workers.loopRepeats = try integer(value, "loop_repeats", 0...100_000)
            if workers.loopRepeats == 1 { throw problem(value, "loop_repeats must be 0 (off) or at least 2") }
        }
        if let value = map["keep_failed"] { workers.keepFailed = try integer(value, "keep_failed", 0...10_000) }
        if let value = map["keep_failed_bytes"] {
            workers.keepFailedBytes = Int64(try integer(value, "keep_failed_bytes", 0...Int(Int32.max) * 512))
        }
        if let value = map["max_running"] { workers.maxRunning = try integer(value, "max_running", 1...10_000) }
        if let value = map["network"] {
            guard let flag = value.bool else { throw problem(value, "network must be true or false") }
            workers.network = flag
        }
        if let value = map["default_estimate"] {
            do {
                workers.defaultEstimate = try CostEstimate(parsing: string(value, "default_estimate"))
            } catch let error as SluiceError where error.code == .invalidInput {
                throw problem(value, "default_estimate: \(error.message)")
            }
        }
        return workers
    }

    static func gate(_ node: Node) throws -> GateConfig {
        let map = try mapping(node, "a gate")
        try refuseUnknown(
            map,
            ["name", "type", "command", "results", "format", "coverage", "criteria", "network", "env", "pass_env"],
            in: "a gate")
        guard let nameNode = map["name"] else { throw problem(node, "a gate needs a name") }
        let name = try string(nameNode, "name")
        guard let commandNode = map["command"] else { throw problem(node, "gate \(name) needs a command") }
        var type = GateType.custom
        if let typeNode = map["type"] {
            let text = try string(typeNode, "type")
            guard let parsed = GateType(rawValue: text) else {
                throw problem(
                    typeNode,
                    "unknown gate type '\(text)'; expected one of: "
                        + GateType.allCases.map(\.rawValue).joined(separator: ", "))
            }
            type = parsed
        }
        var format: ReportFormat?
        if let formatNode = map["format"] {
            let text = try string(formatNode, "format")
            guard let parsed = ReportFormat(rawValue: text) else {
                throw problem(formatNode, "unknown results format '\(text)'; expected junit or tap")
            }
            format = parsed
        }
        var criteria = GateCriteria()
        if let criteriaNode = map["criteria"] {
            let c = try mapping(criteriaNode, "criteria")
            try refuseUnknown(
                c, ["min_coverage", "max_failures", "required_tests", "timeout_seconds", "custom_rules"], in: "criteria"
            )
            if let value = c["min_coverage"] {
                guard let number = value.float, number.isFinite, (0...100).contains(number) else {
                    throw problem(value, "min_coverage must be a number from 0 to 100")
                }
                criteria.minCoverage = number
            }
            if let value = c["max_failures"] {
                criteria.maxFailures = try integer(value, "max_failures", 0...GateCriteria.maxFailuresLimit)
            }
            if let value = c["timeout_seconds"] {
                criteria.timeoutSeconds = try integer(value, "timeout_seconds", 1...GateCriteria.maxTimeoutSeconds)
            }
            if let value = c["required_tests"] { criteria.requiredTests = try strings(value, "required_tests") }
        }
        var network = false
        if let value = map["network"] {
            guard let flag = value.bool else { throw problem(value, "network must be true or false") }
            network = flag
        }
        var environment: [String: String] = [:]
        if let envNode = map["env"] {
            for (key, value) in try mapping(envNode, "env") {
                let name = try variableName(key, "each name in env")
                guard case .scalar(let scalar) = value else { throw problem(value, "env \(name) must be a text value") }
                environment[name] = scalar.string
            }
        }
        var passed: [String] = []
        if let passNode = map["pass_env"] {
            guard case .sequence(let items) = passNode else { throw problem(passNode, "pass_env must be a list") }
            passed = try items.map { try variableName($0, "each item of pass_env") }
        }
        return GateConfig(
            name: name, type: type, command: try string(commandNode, "command"),
            results: try map["results"].map { try string($0, "results") }, resultsFormat: format,
            coverage: try map["coverage"].map { try string($0, "coverage") }, criteria: criteria, network: network,
            environment: environment, passEnvironment: passed)
    }

    static func policy(_ node: Node) throws -> PatchPolicy {
        let map = try mapping(node, "policy")
        try refuseUnknown(
            map,
            [
                "allow", "deny", "protected", "tests", "max_files", "max_changed_lines", "allow_binary",
                "max_apply_attempts", "max_patch_bytes", "review", "review_exempt",
            ],
            in: "policy")
        var policy = PatchPolicy()
        if let value = map["allow"] { policy.allow = try strings(value, "allow").map(Glob.init) }
        if let value = map["deny"] { policy.deny = try strings(value, "deny").map(Glob.init) }
        if let value = map["protected"] { policy.protected = try strings(value, "protected").map(Glob.init) }
        if let value = map["tests"] { policy.tests = try strings(value, "tests").map(Glob.init) }
        if let value = map["review"] { policy.review = try strings(value, "review").map(Glob.init) }
        if let value = map["review_exempt"] { policy.reviewExempt = Set(try strings(value, "review_exempt")) }
        if let value = map["max_files"] { policy.maxFiles = try integer(value, "max_files", 1...Limits.maxFiles) }
        if let value = map["max_changed_lines"] {
            policy.maxChangedLines = try integer(value, "max_changed_lines", 1...Limits.maxChangedLines)
        }
        if let value = map["allow_binary"] {
            guard let flag = value.bool else { throw problem(value, "allow_binary must be true or false") }
            policy.allowBinary = flag
        }
        if let value = map["max_apply_attempts"] {
            policy.maxApplyAttempts = try integer(value, "max_apply_attempts", 1...Limits.maxApplyAttempts)
        }
        if let value = map["max_patch_bytes"] {
            policy.maxPatchBytes = try integer(value, "max_patch_bytes", 1...Limits.maxPatchBytes)
        }
        // sluice.yml is always protected: a patch may not change its own gates.
        if !policy.protected.contains(where: { $0.matches(fileName) }) { policy.protected.append(Glob(fileName)) }
        return policy
    }

    // MARK: - Ranges

    /// The largest value each number of `sluice.yml` may take, so that none can overflow what it feeds
    /// (a timer, an allocation, a count); the ranges are in docs/pipeline.md.
    public enum Limits {
        /// 1 GiB of gate log kept.
        public static let maxLogBytes = 1 << 30
        /// One hour between SIGTERM and SIGKILL.
        public static let maxGraceSeconds = 3600
        public static let maxFiles = 1_000_000
        public static let maxChangedLines = 100_000_000
        public static let maxApplyAttempts = 100
        /// 1 GiB of diff.
        public static let maxPatchBytes = 1 << 30
        /// A million per second of gate time.
        public static let maxComputeRate = ExactDecimal(units: 1_000_000 * ExactDecimal.unitsPerOne)
    }

    // MARK: - Values

    static func mapping(_ node: Node, _ what: String, file: String = fileName) throws -> Node.Mapping {
        guard case .mapping(let map) = node else {
            throw problem(node, "\(what) must be a mapping of keys to values", file: file)
        }
        return map
    }

    static func refuseUnknown(_ map: Node.Mapping, _ known: Set<String>, in what: String, file: String = fileName)
        throws
    {
        for key in map.keys {
            guard let name = key.string, known.contains(name) else {
                throw problem(
                    key,
                    "unknown key '\(key.string ?? "?")' in \(what); expected one of: \(known.sorted().joined(separator: ", "))",
                    file: file)
            }
        }
    }

    static func string(_ node: Node, _ what: String, file: String = fileName) throws -> String {
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
            throw problem(node, "\(what) must be a text value", file: file)
        }
        return scalar.string
    }

    static func strings(_ node: Node, _ what: String, file: String = fileName) throws -> [String] {
        guard case .sequence(let items) = node else { throw problem(node, "\(what) must be a list", file: file) }
        return try items.map { try string($0, "each item of \(what)", file: file) }
    }

    /// An environment variable's name: a letter or `_`, then letters, digits or `_` (ASCII).
    static func variableName(_ node: Node, _ what: String) throws -> String {
        let name = try string(node, what)
        func isLetter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_" }
        guard let first = name.unicodeScalars.first, isLetter(first),
            name.unicodeScalars.allSatisfy({ isLetter($0) || ("0"..."9").contains($0) })
        else { throw problem(node, "'\(name)' is not a valid environment variable name") }
        return name
    }

    static func integer(_ node: Node, _ what: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let value = node.int, range.contains(value) else {
            throw problem(node, "\(what) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    static func wrap<T>(_ node: Node, file: String = fileName, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SluiceError {
            throw problem(node, error.message, file: file)
        }
    }

    /// An error naming the file and the node's line.
    static func problem(_ node: Node, _ message: String, file: String = fileName) -> SluiceError {
        let line = node.mark.map { "line \($0.line)" } ?? "?"
        return SluiceError.invalidInput("\(file) \(line): \(message)")
    }

    static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
            return "line \(mark.line): \(problem)"
        default:
            return "is not valid YAML: \(error)"
        }
    }

    // MARK: - The starter file

    /// The commented file `sluice init` writes when there is none.
    public static func starter(branch: String) -> String {
        """
        # Sluice configuration. It is always read from the target branch, never from a patch,
        # so a patch cannot change its own gates.
        target_branch: \(branch)

        # Each gate runs in the patch's workspace with /bin/sh -c. With `results`, the report
        # (JUnit XML, or TAP for .tap files) decides; without it, the exit code does.
        gates:
          - name: tests
            type: unit_tests
            # Replace with your test command, e.g. python3 -m pytest -q --junitxml=.sluice-results/junit.xml
            # Until then this gate fails, so that nothing lands untested.
            command: "echo 'sluice.yml: set the command of gate tests to your test command' >&2; exit 1"
            # results: .sluice-results/junit.xml
            # coverage: coverage.xml           # Cobertura XML or lcov
            criteria:
              max_failures: 0
              timeout_seconds: 600
              # min_coverage: 80
              # required_tests: [tests.test_calc.test_add]

        policy:
          allow: ["**"]
          deny: []                 # .git/ and .sluice/ are always denied
          protected: [sluice.yml, ".ci/**"]
          tests: ["tests/**"]
          max_files: 100
          max_changed_lines: 5000
          allow_binary: false
          max_apply_attempts: 3

        costs:
          compute_rate: 0          # cost of one second of gate time
          currency: USD

        # Gates run sealed with bubblewrap when it is installed (auto), or always (bubblewrap: the
        # run stops without it), or unsealed (none). Per gate: network: true, env: {K: v}, pass_env: [NAME].
        sandbox: auto

        """
    }
}
