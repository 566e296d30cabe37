import SluiceCore
import SluiceEngine
import Testing

@Suite("sluice.yml")
struct ConfigLoaderTests {
    static let example = """
        target_branch: main
        gates:
          - name: unit
            type: unit_tests
            command: python3 -m pytest -q --junitxml=.sluice-results/junit.xml
            results: .sluice-results/junit.xml
            coverage: coverage.xml
            criteria: {max_failures: 0, min_coverage: 80, required_tests: [tests.test_calc.test_add], timeout_seconds: 600}
        policy:
          allow: ["**"]
          deny: []
          protected: [sluice.yml, ".ci/**"]
          tests: ["tests/**"]
          max_files: 100
          max_changed_lines: 5000
          allow_binary: false
          max_apply_attempts: 3
        costs: {compute_rate: 0.002, currency: EUR}
        """

    @Test("the issue's example parses into the configuration it describes")
    func example() throws {
        let config = try ConfigLoader.parse(Self.example, defaultBranch: "trunk")
        #expect(config.targetBranch == "main")
        let gate = try #require(config.gates.first)
        #expect(gate.name == "unit" && gate.type == .unitTests && gate.resultsFormat == .junit)
        #expect(gate.results == ".sluice-results/junit.xml" && gate.coverage == "coverage.xml")
        #expect(
            gate.criteria
                == GateCriteria(
                    minCoverage: 80, maxFailures: 0, requiredTests: ["tests.test_calc.test_add"], timeoutSeconds: 600))
        #expect(
            config.policy.maxApplyAttempts == 3 && config.policy.protected.map(\.pattern) == ["sluice.yml", ".ci/**"])
        #expect(config.computeRate.description == "0.002" && config.currency.code == "EUR")
    }

    @Test("an empty file gives the defaults on the default branch, and sluice.yml stays protected")
    func defaults() throws {
        let config = try ConfigLoader.parse("", defaultBranch: "trunk")
        #expect(config.targetBranch == "trunk" && config.gates.isEmpty)
        let custom = try ConfigLoader.parse("policy: {protected: [\"docs/**\"]}", defaultBranch: "main")
        #expect(custom.policy.protected.map(\.pattern) == ["docs/**", "sluice.yml"])
    }

    @Test("sandbox, network, env and pass_env parse; by default a gate is sealed, offline, with nothing added")
    func sandboxKeys() throws {
        let text = """
            sandbox: bubblewrap
            gates:
              - {name: plain, command: x}
              - name: online
                command: y
                network: true
                env: {CI: "1", _MODE: fast, LEVEL2: 3}
                pass_env: [MY_API_TOKEN, _X]
            """
        let config = try ConfigLoader.parse(text, defaultBranch: "main")
        #expect(config.sandbox == .bubblewrap)
        #expect(try ConfigLoader.parse("", defaultBranch: "main").sandbox == .auto)
        #expect(try ConfigLoader.parse("sandbox: none", defaultBranch: "main").sandbox == .none)
        let plain = config.gates[0]
        #expect(!plain.network && plain.environment.isEmpty && plain.passEnvironment.isEmpty)
        let online = config.gates[1]
        #expect(online.network && online.environment == ["CI": "1", "_MODE": "fast", "LEVEL2": "3"])
        #expect(online.passEnvironment == ["MY_API_TOKEN", "_X"])
    }

    @Test("the starter file parses")
    func starter() throws {
        let config = try ConfigLoader.parse(ConfigLoader.starter(branch: "main"), defaultBranch: "x")
        #expect(config.targetBranch == "main" && config.gates.map(\.name) == ["tests"])
    }

    @Test(
        "a malformed file is an error naming the line",
        arguments: [
            ("gates:\n  - name: unit\n    command: [unclosed\n", "sluice.yml line"),
            (
                "target_branch: main\ngates:\n  - name: unit\n    type: fuzz\n    command: x\n",
                "line 4: unknown gate type 'fuzz'"
            ),
            ("gates:\n  - name: unit\n", "line 2: gate unit needs a command"),
            ("policy:\n  max_files: -3\n", "line 2: max_files must be a whole number from 1 to 1000000"),
            ("policy:\n  frobnicate: 1\n", "line 2: unknown key 'frobnicate' in policy"),
            (
                "gates:\n  - {name: a, command: x, criteria: {min_coverage: 120}}\n",
                "min_coverage must be a number from 0 to 100"
            ),
            ("gates:\n  - {name: a, command: x}\n  - {name: a, command: y}\n", "line 3: two gates are named a"),
            ("costs: {currency: dollars}\n", "line 1: 'dollars' is not a currency code"),
            ("sandbox: firejail\n", "line 1: unknown sandbox 'firejail'; expected one of: auto, bubblewrap, none"),
            ("gates:\n  - {name: a, command: x, network: maybe}\n", "line 2: network must be true or false"),
            ("gates:\n  - {name: a, command: x, env: {1PASSWORD: x}}\n", "'1PASSWORD' is not a valid environment"),
            ("gates:\n  - {name: a, command: x, env: {A-B: x}}\n", "'A-B' is not a valid environment"),
            ("gates:\n  - {name: a, command: x, env: [A]}\n", "env must be a mapping"),
            ("gates:\n  - {name: a, command: x, pass_env: TOKEN}\n", "pass_env must be a list"),
            ("gates:\n  - {name: a, command: x, pass_env: [\"MY TOKEN\"]}\n", "'MY TOKEN' is not a valid environment"),
        ])
    func malformed(text: String, message: String) {
        #expect {
            try ConfigLoader.parse(text, defaultBranch: "main")
        } throws: { error in
            let error = error as? SluiceError
            return error?.code == .invalidInput && error?.message.contains(message) == true
        }
    }

    @Test(
        "every number in sluice.yml has a range, checked when the file is read",
        arguments: [
            (
                "gates:\n  - {name: a, command: x, criteria: {timeout_seconds: 9223372036854775807}}\n",
                "timeout_seconds must be a whole number from 1 to 604800"
            ),
            ("gates:\n  - {name: a, command: x, criteria: {timeout_seconds: 604801}}\n", "timeout_seconds"),
            (
                "gates:\n  - {name: a, command: x, criteria: {max_failures: 1000000001}}\n",
                "max_failures must be a whole number from 0 to"
            ),
            ("logs: {grace_seconds: 3601}\n", "grace_seconds must be a whole number from 1 to 3600"),
            ("logs: {max_bytes: 1073741825}\n", "max_bytes must be a whole number from 1024 to 1073741824"),
            ("policy: {max_files: 1000001}\n", "max_files must be a whole number from 1 to"),
            ("policy: {max_changed_lines: 100000001}\n", "max_changed_lines must be a whole number from 1 to"),
            ("policy: {max_apply_attempts: 101}\n", "max_apply_attempts must be a whole number from 1 to 100"),
            ("costs: {compute_rate: 1000001}\n", "compute_rate must be a number from 0 to 1000000"),
        ])
    func outOfRange(text: String, message: String) {
        #expect {
            try ConfigLoader.parse(text, defaultBranch: "main")
        } throws: { error in
            let error = error as? SluiceError
            return error?.code == .invalidInput && error?.message.contains(message) == true
        }
    }

    @Test("workers: every setting read, the rest left at the defaults the supervisor's options share")
    func workers() throws {
        let config = try ConfigLoader.parse(
            """
            workers:
              heartbeat_seconds: 5
              lease_seconds: 20
              stall_seconds: 0
              loop_repeats: 7
              keep_failed: 2
              max_running: 3
              network: false
            """, defaultBranch: "main")
        var expected = WorkerDefaults()
        expected.heartbeatSeconds = 5
        expected.leaseSeconds = 20
        expected.stallSeconds = 0
        expected.loopRepeats = 7
        expected.keepFailed = 2
        expected.maxRunning = 3
        expected.network = false
        #expect(config.workers == expected)
        #expect(try ConfigLoader.parse("", defaultBranch: "main").workers == WorkerDefaults())
        // The options' defaults are the same values.
        let options = SupervisorOptions(agent: .claude)
        let defaults = WorkerDefaults()
        #expect(options.heartbeatSeconds == defaults.heartbeatSeconds && options.leaseSeconds == defaults.leaseSeconds)
        #expect(options.limits.stallSeconds == defaults.stallSeconds && options.keepFailed == defaults.keepFailed)
    }

    @Test(
        "workers: a value out of range, an unknown key or a lease not longer than the heartbeat is refused by line",
        arguments: [
            ("workers: {heartbeat_seconds: 0}\n", "heartbeat_seconds must be a whole number from 1 to 3600"),
            (
                "workers: {heartbeat_seconds: 30, lease_seconds: 30}\n",
                "lease_seconds must be longer than heartbeat_seconds"
            ),
            ("workers: {loop_repeats: 1}\n", "loop_repeats must be 0 (off) or at least 2"),
            ("workers: {stall_seconds: 604801}\n", "stall_seconds must be a whole number from 0 to 604800"),
            ("workers: {network: maybe}\n", "network must be true or false"),
            ("workers: {lease: 5}\n", "unknown key 'lease' in workers"),
        ])
    func workersRefused(text: String, message: String) {
        expectRefused(text, message)
    }

    /// `text` is refused as invalid input, with `message` in what it says.
    func expectRefused(_ text: String, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(sourceLocation: sourceLocation) {
            try ConfigLoader.parse(text, defaultBranch: "main")
        } throws: { error in
            let error = error as? SluiceError
            return error?.code == .invalidInput && error?.message.contains(message) == true
        }
    }

    @Test("merge_queue: batch_size and batch_wait_seconds are read; by default every patch is gated alone")
    func mergeQueue() throws {
        #expect(try ConfigLoader.parse("", defaultBranch: "main").mergeQueue == MergeQueueSettings())
        let config = try ConfigLoader.parse(
            "merge_queue: {batch_size: 32, batch_wait_seconds: 3600, max_parallel: 8}\n", defaultBranch: "main")
        #expect(config.mergeQueue == MergeQueueSettings(batchSize: 32, batchWaitSeconds: 3600, maxParallel: 8))
        #expect(config.mergeQueue.patchesPerTurn == 256)
    }

    @Test(
        "merge_queue: a value out of range or an unknown key is refused",
        arguments: [
            ("merge_queue: {batch_size: 0}\n", "batch_size must be a whole number from 1 to 32"),
            ("merge_queue: {batch_size: 33}\n", "batch_size must be a whole number from 1 to 32"),
            ("merge_queue: {batch_wait_seconds: -1}\n", "batch_wait_seconds must be a whole number from 0 to 3600"),
            ("merge_queue: {max_parallel: 0}\n", "max_parallel must be a whole number from 1 to 8"),
            ("merge_queue: {max_parallel: 9}\n", "max_parallel must be a whole number from 1 to 8"),
            ("merge_queue: {batch: 4}\n", "unknown key 'batch' in merge_queue"),
            ("merge_queue: 4\n", "merge_queue"),
        ])
    func mergeQueueRefused(text: String, message: String) {
        expectRefused(text, message)
    }

    @Test("flaky: reruns is read, 0 to 5; by default a failed gate is not rerun")
    func flaky() throws {
        #expect(try ConfigLoader.parse("", defaultBranch: "main").flaky.reruns == 0)
        #expect(try ConfigLoader.parse("flaky: {reruns: 5}\n", defaultBranch: "main").flaky.reruns == 5)
        expectRefused("flaky: {reruns: 6}\n", "reruns must be a whole number from 0 to 5")
        expectRefused("flaky: {reruns: -1}\n", "reruns must be a whole number from 0 to 5")
        expectRefused("flaky: {rerun: 1}\n", "unknown key 'rerun' in flaky")
        expectRefused("flaky: 1\n", "flaky")
        let quarantine = try ConfigLoader.parse(
            "flaky: {reruns: 1, quarantine_after: 3, release_after: 20}\n", defaultBranch: "main"
        ).flaky
        #expect(quarantine.quarantineAfter == 3 && quarantine.releaseAfter == 20)
        #expect(try ConfigLoader.parse("", defaultBranch: "main").flaky.quarantineAfter == 0)
        expectRefused("flaky: {quarantine_after: 2}\n", "quarantine_after needs reruns above 0")
        expectRefused("flaky: {reruns: 1, release_after: 0}\n", "release_after must be a whole number from 1 to 1000")
        expectRefused("flaky: {reruns: 1, quarantine_after: 1001}\n", "quarantine_after must be a whole number")
    }

    @Test("the largest values in range are taken")
    func ranges() throws {
        let text = """
            gates:
              - {name: a, command: x, criteria: {timeout_seconds: 604800, max_failures: 1000000000}}
            policy: {max_files: 1000000, max_changed_lines: 100000000, max_apply_attempts: 100}
            logs: {grace_seconds: 3600, max_bytes: 1073741824}
            costs: {compute_rate: 1000000}
            """
        let config = try ConfigLoader.parse(text, defaultBranch: "main")
        #expect(config.gates[0].timeoutSeconds == 604_800 && config.gates[0].criteria.maxFailures == 1_000_000_000)
        #expect(config.policy.maxFiles == 1_000_000 && config.policy.maxChangedLines == 100_000_000)
        #expect(config.policy.maxApplyAttempts == 100 && config.computeRate.description == "1000000")
        #expect(config.graceSeconds == 3600 && config.logLimitBytes == 1 << 30)
    }

    @Test("policy.max_patch_bytes defaults to 10 MiB and takes 1 byte to 1 GiB")
    func maxPatchBytes() throws {
        #expect(try ConfigLoader.parse("", defaultBranch: "main").policy.maxPatchBytes == 10_485_760)
        let largest = try ConfigLoader.parse("policy: {max_patch_bytes: 1073741824}", defaultBranch: "main")
        #expect(largest.policy.maxPatchBytes == 1 << 30)
        for text in ["policy: {max_patch_bytes: 1073741825}", "policy: {max_patch_bytes: 0}"] {
            #expect {
                try ConfigLoader.parse(text, defaultBranch: "main")
            } throws: { error in
                (error as? SluiceError)?.message.contains("max_patch_bytes must be a whole number from 1 to 1073741824")
                    == true
            }
        }
    }

    @Test("allow_ungated is true or false, and false unless set")
    func allowUngated() throws {
        #expect(try ConfigLoader.parse("", defaultBranch: "main").allowUngated == false)
        #expect(try ConfigLoader.parse("allow_ungated: true", defaultBranch: "main").allowUngated)
        #expect {
            try ConfigLoader.parse("allow_ungated: maybe", defaultBranch: "main")
        } throws: { error in
            (error as? SluiceError)?.message.contains("line 1: allow_ungated must be true or false") == true
        }
    }
}
