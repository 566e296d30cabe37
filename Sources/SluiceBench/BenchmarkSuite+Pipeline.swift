import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore

extension BenchmarkSuite {
    /// `diff_parse`: MB/s parsing a generated diff of `sizes.diffMegabytes` MB.
    func diffParse() throws -> BenchmarkResult {
        var text = ""
        text.reserveCapacity(sizes.diffMegabytes << 20)
        var files = 0
        while text.utf8.count < sizes.diffMegabytes << 20 {
            files += 1
            text += "diff --git a/src/module\(files).swift b/src/module\(files).swift\n"
            text += "index 1234567..89abcde 100644\n--- a/src/module\(files).swift\n+++ b/src/module\(files).swift\n"
            for hunk in 0..<4 {
                let start = hunk * 40 + 1
                text += "@@ -\(start),7 +\(start),8 @@ func f\(hunk)() {\n"
                text +=
                    "     let a = \(hunk)\n     let b = a + 1\n-    print(a)\n+    print(a, b)\n+    print(\"added\")\n"
                text += "     return b\n     }\n     // context line with some length to it\n     // and another\n"
            }
        }
        let bytes = Array(text.utf8)
        var parsed = UnifiedDiff(files: [])
        let elapsed = try seconds { parsed = try DiffParser.parse(bytes) }
        guard parsed.files.count == files else {
            throw SluiceError(code: .storage, message: "diff_parse read \(parsed.files.count) files, expected \(files)")
        }
        let megabytes = Double(bytes.count) / 1_048_576
        return BenchmarkResult(
            name: "diff_parse", value: megabytes / elapsed, unit: "MB/s",
            detail: [
                "megabytes": .number(Decimal(string: String(format: "%.1f", megabytes)) ?? 0),
                "files": .number(Decimal(files)), "target": .string(">= 100 MB/s"),
            ])
    }

    /// `junit_parse`: seconds to read a JUnit file of `sizes.junitCases` test cases.
    func junitParse() throws -> BenchmarkResult {
        var text =
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"big\" tests=\"\(sizes.junitCases)\">\n"
        for index in 0..<sizes.junitCases {
            if index % 100 == 0 {
                text += "<testcase classname=\"module.Suite\(index / 1000)\" name=\"test_\(index)\" time=\"0.001\">"
                text += "<failure message=\"expected 1 &lt; 2\">Traceback: line \(index)</failure></testcase>\n"
            } else {
                text += "<testcase classname=\"module.Suite\(index / 1000)\" name=\"test_\(index)\" time=\"0.001\"/>\n"
            }
        }
        text += "</testsuite>\n</testsuites>\n"
        let bytes = Array(text.utf8)
        var results = GateResults()
        let elapsed = try seconds { results = try JUnitReport.parse(bytes) }
        guard results.totalTests == sizes.junitCases, results.failedTests == (sizes.junitCases + 99) / 100 else {
            throw SluiceError(code: .storage, message: "junit_parse read \(results.totalTests) cases")
        }
        return BenchmarkResult(
            name: "junit_parse", value: elapsed, unit: "s",
            detail: [
                "testcases": .number(Decimal(sizes.junitCases)),
                "megabytes": .number(Decimal(string: String(format: "%.1f", Double(bytes.count) / 1_048_576)) ?? 0),
                "target": .string("<= 1 s for 100000"),
            ])
    }

    /// A repository of `sizes.repositoryFiles` files under `src/` on `main`, with a gate running `gate`
    /// (`true` by default; no double quotes in it) and `settings` (more lines of `sluice.yml`).
    func benchRepository(_ name: String, gate: String = "true", settings: String = "") async throws -> String {
        let repository = path(name)
        try? FileManager.default.removeItem(atPath: repository)
        try FileManager.default.createDirectory(atPath: repository + "/src", withIntermediateDirectories: true)
        let git = Git(repository: repository)
        try await git.checked(["init", "--quiet", "--initial-branch=main"])
        for index in 0..<sizes.repositoryFiles {
            try Data("file \(index)\nline two\nline three\n".utf8).write(
                to: URL(fileURLWithPath: repository + "/src/file\(index).txt"))
        }
        try Data(
            ("target_branch: main\ngates:\n  - {name: noop, type: custom, command: \"\(gate)\"}\n" + settings).utf8
        ).write(to: URL(fileURLWithPath: repository + "/sluice.yml"))
        try await git.checked(["add", "-A"])
        try await git.checked(["commit", "--quiet", "-m", "a repository of \(sizes.repositoryFiles) files"])
        return repository
    }

    /// The patches both `pipeline_overhead` and `git_floor` land: one line of a different file each.
    func benchDiffs() -> [String] {
        (0..<sizes.pipelinePatches).map { index in
            let number = index * (sizes.repositoryFiles / max(1, sizes.pipelinePatches))
            let file = "src/file\(number).txt"
            return "--- a/\(file)\n+++ b/\(file)\n@@ -1,3 +1,3 @@\n file \(number)\n-line two\n+line 2\n line three\n"
        }
    }

    /// `git_floor`: the git steps of landing one patch, with nothing of Sluice around them, in a plain
    /// shell loop over the same patches on the same repository as `pipeline_overhead`: reset and clean
    /// a worktree at the head, `apply --index`, `write-tree`, `commit-tree`, `update-ref` with the old
    /// value. Milliseconds per patch.
    func gitFloor() async throws -> BenchmarkResult {
        let repository = try await benchRepository("git-floor-repo")
        let diffs = benchDiffs()
        for (index, diff) in diffs.enumerated() {
            try Data(diff.utf8).write(to: URL(fileURLWithPath: path("git-floor-\(index).diff")))
        }
        let script = """
            set -e
            cd "$1"
            git worktree add --quiet --detach ../git-floor-worktree main
            cd ../git-floor-worktree
            head=$(git rev-parse main)
            start=$(date +%s%N)
            i=0
            while [ "$i" -lt "$2" ]; do
              git reset --quiet --hard "$head"
              git clean --quiet -fdx
              git apply --index "$3/git-floor-$i.diff"
              tree=$(git write-tree)
              commit=$(git commit-tree "$tree" -p "$head" -m "patch $i")
              git update-ref refs/heads/main "$commit" "$head"
              head=$commit
              i=$((i + 1))
            done
            end=$(date +%s%N)
            echo $((end - start))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, "git-floor", repository, String(diffs.count), directory]
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in Git.environment { environment[key] = value }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let nanoseconds = Double(
            String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        guard process.terminationStatus == 0, let nanoseconds else {
            throw SluiceError(
                code: .storage, message: "git_floor: the shell loop failed (\(process.terminationStatus))")
        }
        let landed = try await Git(repository: repository).checked(["rev-list", "--count", "main"])
        guard Int(landed.trimmingCharacters(in: .whitespacesAndNewlines)) == diffs.count + 1 else {
            throw SluiceError(code: .storage, message: "git_floor: main has \(landed) commits, not \(diffs.count + 1)")
        }
        try? FileManager.default.removeItem(atPath: repository)
        try? FileManager.default.removeItem(atPath: path("git-floor-worktree"))
        for index in diffs.indices { try? FileManager.default.removeItem(atPath: path("git-floor-\(index).diff")) }
        return BenchmarkResult(
            name: "git_floor", value: nanoseconds / 1_000_000 / Double(diffs.count), unit: "ms/patch",
            detail: [
                "patches": .number(Decimal(diffs.count)), "repository_files": .number(Decimal(sizes.repositoryFiles)),
                "steps": .string("reset --hard, clean -fdx, apply --index, write-tree, commit-tree, update-ref OLD"),
            ])
    }

    /// `pipeline_overhead`: patches through the landing pipeline on a repository of `sizes.repositoryFiles`
    /// files with a gate of `true`; Sluice's own milliseconds per patch (total minus the gate commands),
    /// and its ratio to `floor` (`git_floor` of the same run) when given.
    func pipelineOverhead(floor: Double? = nil) async throws -> BenchmarkResult {
        let repository = try await benchRepository("pipeline-repo")
        let storage = try SQLiteStorage(path: (repository + "/.sluice/sluice.db").creatingFolder())
        let pipeline = Pipeline(engine: Engine(EngineContext(storage: storage, actor: "bench")), repository: repository)
        try pipeline.prepare()
        // As `sluice init` does: the target branch is recorded, not asked of git for every patch.
        try pipeline.recordTargetBranch("main")
        for diff in benchDiffs() {
            _ = try await pipeline.submit(Array(diff.utf8), .init(project: "bench"))
        }
        let clock = ContinuousClock()
        let start = clock.now
        let summary = try await pipeline.run { _ in }
        let totalSeconds = (clock.now - start).inSeconds
        guard summary.landed.count == sizes.pipelinePatches else {
            throw SluiceError(
                code: .storage, message: "pipeline_overhead landed \(summary.landed.count) of \(sizes.pipelinePatches)")
        }
        let perPatch = (totalSeconds - summary.gateSeconds) / Double(sizes.pipelinePatches) * 1000
        try? FileManager.default.removeItem(atPath: repository)
        var detail: [String: JSONValue] = [
            "patches": .number(Decimal(sizes.pipelinePatches)),
            "repository_files": .number(Decimal(sizes.repositoryFiles)),
            "gate_seconds": .number(Decimal(string: String(format: "%.3f", summary.gateSeconds)) ?? 0),
            "total_seconds": .number(Decimal(string: String(format: "%.3f", totalSeconds)) ?? 0),
            "target": .string("<= 100 ms/patch; <= 2 x git_floor"),
        ]
        if let floor, floor > 0 {
            detail["ratio_to_git_floor"] = .number(Decimal(string: String(format: "%.2f", perPatch / floor)) ?? 0)
        }
        return BenchmarkResult(name: "pipeline_overhead", value: perPatch, unit: "ms/patch", detail: detail)
    }
}

extension String {
    fileprivate func creatingFolder() throws -> String {
        try FileManager.default.createDirectory(
            atPath: (self as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        return self
    }
}

extension BenchmarkSuite {
    /// How one `merge_queue` run went.
    struct QueueRun {
        var landed: [String]
        var quarantined: [String]
        var gateRuns: Int
        var seconds: Double
    }

    /// `merge_queue`: `sizes.mergeQueuePatches` patches on a repository of `sizes.repositoryFiles`
    /// files, a tenth of them culprits (a gate that sleeps `sizes.mergeQueueGateSeconds`, then fails
    /// while a culprit's marker is in the tree), landed one at a time and in batches of 4 with two
    /// batches gated at once (`max_parallel: 2`), each on a repository of its own. The value is the
    /// batched run's wall time as a share of one at a time's.
    func mergeQueue() async throws -> BenchmarkResult {
        let alone = try await queueRun(batchSize: 1)
        let batched = try await queueRun(batchSize: 4, maxParallel: 2)
        let sameOutcome = alone.landed == batched.landed && alone.quarantined == batched.quarantined
        func describe(_ run: QueueRun) -> JSONValue {
            .object([
                "landed": .number(Decimal(run.landed.count)), "quarantined": .number(Decimal(run.quarantined.count)),
                "gate_runs": .number(Decimal(run.gateRuns)),
                "gate_runs_per_landed": .number(
                    Decimal(string: String(format: "%.3f", Double(run.gateRuns) / Double(max(1, run.landed.count))))
                        ?? 0),
                "wall_seconds": .number(Decimal(string: String(format: "%.3f", run.seconds)) ?? 0),
            ])
        }
        return BenchmarkResult(
            name: "merge_queue", value: batched.seconds / max(alone.seconds, 0.001), unit: "x one-at-a-time wall",
            detail: [
                "patches": .number(Decimal(sizes.mergeQueuePatches)),
                "quarantined": .number(Decimal(batched.quarantined.count)),
                "gate_seconds": .number(Decimal(string: String(format: "%.2f", sizes.mergeQueueGateSeconds)) ?? 0),
                "batch_size_1": describe(alone), "batch_size_4": describe(batched),
                "gate_runs_ratio": .number(
                    Decimal(string: String(format: "%.3f", Double(batched.gateRuns) / Double(max(1, alone.gateRuns))))
                        ?? 0),
                "same_outcome": .bool(sameOutcome), "max_parallel": .number(2),
                "target": .string("same outcome; gate runs <= 0.6 x; wall <= 0.5 x"),
            ])
    }

    /// One `merge_queue` run: the same patches, by their messages, in queue order.
    private func queueRun(batchSize: Int, maxParallel: Int = 1) async throws -> QueueRun {
        let gate = String(format: "sleep %.3f; ! grep -rqs CULPRIT src", sizes.mergeQueueGateSeconds)
        let repository = try await benchRepository(
            "merge-queue-\(batchSize)",
            gate: gate,
            settings: "sandbox: none\nmerge_queue: {batch_size: \(batchSize), max_parallel: \(maxParallel)}\n")
        let storage = try SQLiteStorage(path: (repository + "/.sluice/sluice.db").creatingFolder())
        let pipeline = Pipeline(engine: Engine(EngineContext(storage: storage, actor: "bench")), repository: repository)
        try pipeline.prepare()
        try pipeline.recordTargetBranch("main")
        let count = sizes.mergeQueuePatches
        var names: [String: String] = [:]
        for index in 0..<count {
            let number = index * (sizes.repositoryFiles / max(1, count))
            let file = "src/file\(number).txt"
            // Every tenth, from the middle of the first ten, is a culprit.
            let line = index % 10 == 5 ? "CULPRIT" : "line 2"
            let diff =
                "--- a/\(file)\n+++ b/\(file)\n@@ -1,3 +1,3 @@\n file \(number)\n-line two\n+\(line)\n line three\n"
            let entry = try await pipeline.submit(Array(diff.utf8), .init(project: "bench", message: "patch \(index)"))
            names[entry.ledgerID.description] = "patch \(index)"
        }
        let clock = ContinuousClock()
        let start = clock.now
        let summary = try await pipeline.run { _ in }
        let seconds = (clock.now - start).inSeconds
        let landed = try await Git(repository: repository).checked(
            ["log", "--reverse", "--format=%s", "main", "--not", "main~\(summary.landed.count)"])
        try? FileManager.default.removeItem(atPath: repository)
        return QueueRun(
            landed: landed.split(separator: "\n").map(String.init),
            quarantined: summary.quarantined.compactMap { names[$0.ledgerID] }.sorted(), gateRuns: summary.gateRuns,
            seconds: seconds)
    }
}
