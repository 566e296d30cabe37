import Foundation
import SluiceTesting
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `sluice patch submit`, `sluice run`, `sluice demo`: the real binary on real repositories.
@Suite("Pipeline commands")
struct PipelineCommandTests {
    static func repository(gate: String = "true", settings: String = "", extra: [String: String] = [:]) throws
        -> TemporaryGitRepository
    {
        var files = [
            "notes.txt": "one\ntwo\nthree\n", "tests/test_notes.sh": "exit 0\n",
            "sluice.yml": """
            target_branch: main
            gates:
              - {name: check, type: custom, command: '\(gate)', criteria: {timeout_seconds: 120}}
            policy: {tests: ["tests/**"], max_apply_attempts: 2}
            logs: {grace_seconds: 1}
            \(settings)
            """,
        ]
        for (path, content) in extra { files[path] = content }
        return try TemporaryGitRepository(files: files)
    }

    func sluice(_ arguments: [String], in repository: TemporaryGitRepository, input: String? = nil) async throws
        -> CommandLineProcess.Result
    {
        try await CommandLineProcess.run(arguments, input: input, directory: repository.path)
    }

    @Test("submit stores the diff byte for byte, run lands it, and the ledger shows it committed")
    func submitAndRun() async throws {
        let repository = try Self.repository()
        #expect(try await sluice(["init"], in: repository).status == 0)
        // Not ending in a newline, with a "\ No newline" marker: stored and printed back exactly.
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        let submitted = try await sluice(
            ["patch", "submit", "-", "--project", "notes", "--workstream", "agent-1", "--json"], in: repository,
            input: diff)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any])
        let id = try #require(object["ledger_id"] as? String)
        #expect(object["state"] as? String == "queued")
        #expect(try await sluice(["patch", "show", id, "--diff"], in: repository).stdout == diff)
        let run = try await sluice(["run"], in: repository)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("landed") && run.stdout.contains("summary: 1 landed, 0 quarantined, 0 rejected"))
        #expect(try repository.read("notes.txt") == "one\n2\nthree\n")
        let shown = try await sluice(["patch", "show", id, "--json"], in: repository)
        #expect(shown.stdout.contains("\"state\":\"committed\""))
        // The gate ran as a TestGate record and cost a compute_time record.
        #expect(try await sluice(["gate", "list", "--state", "passed"], in: repository).stdout.contains("check"))
        #expect(
            try await sluice(["cost", "list", "--type", "compute_time", "--json"], in: repository).stdout.contains(
                "gate:check"))
        // Revert lands the reverse.
        let revert = try await sluice(["patch", "revert", id], in: repository)
        #expect(revert.status == 0, "\(revert.stderr)")
        #expect(try await sluice(["run", "--json"], in: repository).stdout.contains("\"step\":\"summary\""))
        #expect(try repository.read("notes.txt") == "one\ntwo\nthree\n")
    }

    @Test("a rejected submission exits 1 and says why; an empty one is an input error and stores nothing")
    func rejections() async throws {
        let repository = try Self.repository()
        _ = try await sluice(["init"], in: repository)
        let outside = try await sluice(
            ["patch", "submit", "-", "--project", "p"], in: repository,
            input: "--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n")
        #expect(outside.status == 1)
        #expect(outside.stdout.contains("rejected: path_traversal: ../x"))
        let empty = try await sluice(["patch", "submit", "-", "--project", "p"], in: repository, input: "")
        #expect(empty.status == 64 && empty.stderr.contains("the diff is empty"))
        #expect(try await sluice(["patch", "list", "--json"], in: repository).stdout.split(separator: "\n").count == 1)
        let worktree = try await sluice(
            ["patch", "submit", "--from-worktree", repository.path, "--project", "p"], in: repository)
        #expect(worktree.status == 64 && worktree.stderr.contains("has no changes"))
    }

    @Test("submit --priority and patch promote set the order sluice run lands in; bad values change nothing")
    func priorities() async throws {
        let repository = try Self.repository()
        _ = try await sluice(["init"], in: repository)
        func submit(_ file: String, _ options: [String] = []) async throws -> String {
            let diff = try repository.diff { try $0.write(file, file + "\n") }
            let submitted = try await sluice(
                ["patch", "submit", "-", "--project", "p", "--message", file, "--json"] + options, in: repository,
                input: diff)
            #expect(submitted.status == 0, "\(submitted.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any]
            return try #require(object?["ledger_id"] as? String)
        }
        let bad = try await sluice(
            ["patch", "submit", "-", "--project", "p", "--priority", "now"], in: repository, input: "x")
        #expect(bad.status == 64 && bad.stderr.contains("expected one of: low, normal, high, urgent"))
        #expect(try await sluice(["patch", "list", "--json"], in: repository).stdout.isEmpty)
        _ = try await submit("a.txt")
        _ = try await submit("b.txt", ["--priority", "low"])
        let later = try await submit("c.txt")
        let wrong = try await sluice(["patch", "promote", later, "--to", "top"], in: repository)
        #expect(wrong.status == 64 && wrong.stderr.contains("--to"))
        let promoted = try await sluice(["patch", "promote", later, "--by", "alice"], in: repository)
        #expect(promoted.status == 0 && promoted.stdout.contains("priority normal → urgent"), "\(promoted.stderr)")
        let again = try await sluice(["patch", "promote", later, "--json"], in: repository)
        let said = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any]
        #expect(said?["priority"] as? String == "urgent" && said?["previous"] as? String == "urgent")
        #expect(said?["changed"] as? Bool == false && said?["ledger_id"] as? String == later)
        // The priority given at submission is on record with the patch's creation.
        let created = try await sluice(["events", "--entity", later, "--json"], in: repository).stdout
        #expect(created.contains("\"priority\":\"normal\""), "\(created)")
        #expect(try await sluice(["patch", "show", later], in: repository).stdout.contains("urgent"))
        let run = try await sluice(["run"], in: repository)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try repository.git("log", "--format=%s", "-3", "main") == "b.txt\na.txt\nc.txt")
        let landed = try await sluice(["patch", "promote", later, "--to", "low"], in: repository)
        #expect(landed.status == 3 && landed.stderr.contains("cannot promote patch \(later): it is committed"))
    }

    @Test("a verified patch whose commit the branch already holds cannot be set aside; the next run records it")
    func landedCannotBeSetAside() async throws {
        let repository = try Self.repository()
        _ = try await sluice(["init"], in: repository)
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        let submitted = try await sluice(
            ["patch", "submit", "-", "--project", "p", "--json"], in: repository, input: diff)
        let object = try JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any]
        let id = try #require(object?["ledger_id"] as? String)
        // Uncommitted work stops the landing with the patch verified; then main is moved to its commit,
        // as a run stopped right after its compare-and-swap would leave it.
        try repository.write("tests/test_notes.sh", "exit 0 # work in progress\n")
        #expect(try await sluice(["run"], in: repository).status == 1)
        let shown = try await sluice(["patch", "show", id, "--json"], in: repository).stdout
        #expect(shown.contains("\"state\":\"verified\""), "\(shown)")
        try repository.git("checkout", "--", "tests/test_notes.sh")
        let events = try await sluice(["events", "--entity", id, "--json"], in: repository).stdout
        let commits = events.split(separator: "\n").compactMap { line -> String? in
            let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (event?["payload"] as? [String: Any])?["tested_commit"] as? String
        }
        let commit = try #require(commits.last)
        try repository.git("update-ref", "refs/heads/main", commit)
        for verb in [
            ["quarantine", id, "--reason", "x"], ["drop", id, "--reason", "x"], ["rollback", id, "--reason", "x"],
        ] {
            let refused = try await sluice(["patch"] + verb, in: repository)
            #expect(refused.status == 3 && refused.stderr.contains("it has landed"), "\(verb): \(refused.stderr)")
        }
        let again = try await sluice(["run"], in: repository)
        #expect(again.status == 0 && again.stdout.contains("already on main"), "\(again.stdout)\(again.stderr)")
        #expect(try await sluice(["patch", "show", id, "--json"], in: repository).stdout.contains("\"committed\""))
        // The checkout, left at the old commit, followed.
        #expect(try repository.read("notes.txt") == "one\n2\nthree\n")
        #expect(try repository.git("status", "--porcelain").isEmpty)
    }

    @Test("submit --from-worktree takes a worktree's changes, new files included, and leaves it alone")
    func fromWorktree() async throws {
        let repository = try Self.repository()
        _ = try await sluice(["init"], in: repository)
        let agent = TemporaryDirectory(prefix: "sluice-agent")
        try repository.git("worktree", "add", "--detach", "--quiet", agent.path + "/wt", "main")
        try "new\n".write(toFile: agent.path + "/wt/added.txt", atomically: true, encoding: .utf8)
        try "one\n".write(toFile: agent.path + "/wt/notes.txt", atomically: true, encoding: .utf8)
        let submitted = try await sluice(
            ["patch", "submit", "--from-worktree", agent.path + "/wt", "--project", "p"], in: repository)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        #expect(try repository.git("-C", agent.path + "/wt", "status", "--porcelain").contains("?? added.txt"))
        #expect(try await sluice(["run"], in: repository).status == 0)
        #expect(try repository.read("added.txt") == "new\n")
    }

    @Test("a hard budget that cannot cover what a patch's gates may cost stops sluice run before they run")
    func gatesStoppedOnBudget() async throws {
        // 0.01 USD a second × the gate's 120 s and its 5 s of grace: 1.25 USD held while the patch is gated.
        let repository = try TemporaryGitRepository(files: [
            "notes.txt": "one\ntwo\nthree\n",
            "sluice.yml": """
            target_branch: main
            gates:
              - {name: check, type: custom, command: 'exit 0', criteria: {timeout_seconds: 120}}
            costs: {compute_rate: 0.01}

            """,
        ])
        #expect(try await sluice(["init"], in: repository).status == 0)
        #expect(try await sluice(["budget", "set", "global", "1", "--hard"], in: repository).status == 0)
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        let submitted = try await sluice(
            ["patch", "submit", "-", "--project", "p", "--json"], in: repository, input: diff)
        let id = try #require(
            (try JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any])?["ledger_id"]
                as? String)
        let stopped = try await sluice(["run"], in: repository)
        #expect(stopped.status == 1, "\(stopped.stdout)\(stopped.stderr)")
        #expect(
            stopped.stdout.contains(
                "stopped on budget: hard budget global (1 USD) cannot cover the gates of patch \(id): "
                    + "0 committed + 0 held + estimate 1.25 > 1"), "\(stopped.stdout)")
        #expect(
            try await sluice(["patch", "show", id, "--json"], in: repository).stdout.contains("\"state\":\"queued\""))
        #expect(try await sluice(["gate", "list", "--json"], in: repository).stdout.isEmpty, "no gate ran")
        // Watching, the run says so once and waits; given room, it gates and lands the patch, and the
        // hold is gone afterwards.
        let directory = TemporaryDirectory(prefix: "sluice-watch")
        let output = directory.file("out")
        FileManager.default.createFile(atPath: output, contents: nil)
        let watching = try Self.start(["run", "--watch"], in: repository.path, output: output)
        defer { kill(watching.processIdentifier, SIGKILL) }
        let read = { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        try await SupervisorCommandTests.wait(for: { read().contains("waiting: hard budget global") })
        #expect(watching.isRunning)
        #expect(try await sluice(["budget", "set", "global", "5", "--hard"], in: repository).status == 0)
        try await SupervisorCommandTests.wait(for: { read().contains("landed") })
        #expect(read().components(separatedBy: "waiting:").count == 2, "\(read())")
        #expect(
            try await sluice(["patch", "show", id, "--json"], in: repository).stdout.contains(
                "\"state\":\"committed\""))
        #expect(try await held(in: repository) == 0)
    }

    @Test(
        "a patch a project's hard budget cannot gate is passed over for other projects' patches, not for later ones of its own"
    )
    func budgetPassesOver() async throws {
        let repository = try Self.repository(settings: "costs: {compute_rate: 0.01}\n")
        #expect(try await sluice(["init"], in: repository).status == 0)
        #expect(try await sluice(["budget", "set", "project:web", "0.5", "--hard"], in: repository).status == 0)
        // web's second patch needs its first (it changes the line the first wrote): tried ahead of it,
        // it would fail to apply and use up its attempts.
        let patches = [
            ("web", "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"),
            ("web", "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-2\n+II\n three\n"),
            ("api", "--- a/tests/test_notes.sh\n+++ b/tests/test_notes.sh\n@@ -1 +1 @@\n-exit 0\n+true\n"),
        ]
        var ids: [String] = []
        for (project, diff) in patches {
            let submitted = try await sluice(
                ["patch", "submit", "-", "--project", project, "--json"], in: repository, input: diff)
            ids.append(
                try #require(
                    (try JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any])?[
                        "ledger_id"] as? String, "\(submitted.stderr)"))
        }
        let run = try await sluice(["run"], in: repository)
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("summary: 1 landed"), "\(run.stdout)")
        #expect(run.stdout.contains("stopped on budget: hard budget project:web"), "\(run.stdout)")
        #expect(!run.stdout.contains("attempt"), "web's second patch was tried: \(run.stdout)")
        var states: [String] = []
        for id in ids { states.append(try await sluice(["patch", "show", id, "--json"], in: repository).stdout) }
        #expect(states[0].contains("\"state\":\"queued\"") && states[1].contains("\"state\":\"queued\""))
        #expect(states[2].contains("\"state\":\"committed\""))
        // With room, both of web's land, in order.
        #expect(try await sluice(["budget", "set", "project:web", "5", "--hard"], in: repository).status == 0)
        let again = try await sluice(["run"], in: repository)
        #expect(again.status == 0 && again.stdout.contains("2 landed"), "\(again.stdout)\(again.stderr)")
        #expect(try repository.read("notes.txt") == "one\nII\nthree\n")
    }

    @Test("SIGINT or SIGTERM mid-gate: the gate is killed, the hold released, and the next run lands the patch")
    func interruptedMidGate() async throws {
        for (number, marker) in [(SIGINT, "sleep 630.25"), (SIGTERM, "sleep 630.5")] {
            let gate = "if [ ! -e $XDG_CACHE_HOME/slept ]; then touch $XDG_CACHE_HOME/slept; \(marker); fi; exit 0"
            let repository = try Self.repository(gate: gate, settings: "costs: {compute_rate: 0.01}\n")
            _ = try await sluice(["init"], in: repository)
            #expect(try await sluice(["budget", "set", "global", "100", "--hard"], in: repository).status == 0)
            let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
            _ = try await sluice(["patch", "submit", "-", "--project", "p"], in: repository, input: diff)
            let running = try Self.start(["run"], in: repository.path)
            defer { kill(running.processIdentifier, SIGKILL) }
            try await SupervisorCommandTests.wait(for: { Self.processes(matching: marker) > 0 })
            try await Task.sleep(for: .milliseconds(400))
            kill(running.processIdentifier, number)
            await SupervisorCommandTests.exit(of: running)
            #expect(running.terminationStatus == 128 + number, "signal \(number)")
            // Killed before the run exited; given a moment to be reaped.
            try await SupervisorCommandTests.wait(for: { Self.processes(matching: marker) == 0 }, seconds: 10)
            #expect(try await held(in: repository) == 0, "the hold outlived its run")
            // The time it ran is charged, once, with the gate's end as error.
            let charged = try await interruptedCharges(in: repository)
            #expect(charged.count == 1 && charged[0] >= 0.4 && charged[0] < 121, "\(charged)")
            let ended = try await sluice(["gate", "list", "--state", "error", "--json"], in: repository).stdout
            #expect(ended.contains("stopped by a signal"), "\(ended)")
            let again = try await sluice(["run"], in: repository)
            #expect(again.status == 0 && again.stdout.contains("1 landed"), "\(again.stdout)\(again.stderr)")
        }
    }

    @Test("two clones on one SQLite ledger: while one runs, the other's run is refused and changes nothing")
    func clonesShareALedger() async throws {
        let gate = "if [ ! -e $XDG_CACHE_HOME/slept ]; then touch $XDG_CACHE_HOME/slept; sleep 620.5; fi; exit 0"
        let first = try Self.repository(gate: gate)
        let second = TemporaryDirectory(prefix: "sluice-clone")
        _ = try first.git("clone", "--quiet", first.path, second.path + "/clone")
        let database = first.path + "/.sluice/sluice.db"
        _ = try await sluice(["init"], in: first)
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        _ = try await sluice(["patch", "submit", "-", "--project", "p"], in: first, input: diff)
        let running = try Self.start(["run"], in: first.path)
        defer { kill(running.processIdentifier, SIGKILL) }
        try await SupervisorCommandTests.wait(for: { Self.processes(matching: "sleep 620.5") > 0 })
        let other = try await CommandLineProcess.run(
            ["run", "--db", database], directory: second.path + "/clone")
        #expect(
            other.status == 1 && other.stderr.contains("another sluice run is working on this database"),
            "\(other.stderr)")
        let shown = try await sluice(["patch", "list", "--json"], in: first).stdout
        #expect(shown.contains("\"state\":\"applied\""), "the first run's patch is still its own: \(shown)")
        kill(running.processIdentifier, SIGKILL)
        await SupervisorCommandTests.exit(of: running)
        // The orphaned gate is the next run's to kill.
        #expect(try await sluice(["run"], in: first).status == 0)
    }

    @Test(
        "sluice run killed with SIGKILL mid-gate, then run again, finishes the queue correctly and releases what the killed run held"
    )
    func killedMidGate() async throws {
        // The first time, the gate sleeps (and is killed with its runner); afterwards it passes at once.
        // A sealed gate writes only its workspace and its cache, which is kept between runs.
        let gate = "if [ ! -e $XDG_CACHE_HOME/slept ]; then touch $XDG_CACHE_HOME/slept; sleep 610.25; fi; exit 0"
        // 0.01 USD a second × (120 s + 1 s of grace) is held on the budget while the patch is gated.
        let repository = try Self.repository(gate: gate, settings: "costs: {compute_rate: 0.01}\n")
        _ = try await sluice(["init"], in: repository)
        #expect(try await sluice(["budget", "set", "global", "100", "--hard"], in: repository).status == 0)
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        let submitted = try await sluice(
            ["patch", "submit", "-", "--project", "p", "--json"], in: repository, input: diff)
        let id = try #require(
            (try JSONSerialization.jsonObject(with: Data(submitted.stdout.utf8)) as? [String: Any])?["ledger_id"]
                as? String)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLineProcess.executable)
        process.arguments = ["run"]
        process.currentDirectoryURL = URL(fileURLWithPath: repository.path)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<600 where Self.processes(matching: "sleep 610.25") == 0 {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(Self.processes(matching: "sleep 610.25") > 0, "the gate never started")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(try await held(in: repository) == 1.21, "the killed run's hold is left")

        let again = try await sluice(["run"], in: repository)
        #expect(again.status == 0, "\(again.stdout)\n\(again.stderr)")
        #expect(again.stdout.contains("interrupted"))
        #expect(
            again.stdout.contains("released: the hold of 1.21 USD a stopped run left for its gates"), "\(again.stdout)")
        #expect(try await held(in: repository) == 0)
        let shown = try await sluice(["patch", "show", id, "--json"], in: repository).stdout
        #expect(shown.contains("\"state\":\"committed\""))
        // Landed once: exactly one commit carries its ledger id.
        let log = try repository.git("log", "--format=%B", "main")
        #expect(log.components(separatedBy: "Sluice-Ledger-Id: \(id)").count == 2)
        // No workspace left, in git or on disk; the orphaned gate was killed.
        #expect(try repository.git("worktree", "list").split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: repository.path + "/.sluice/workspaces"))
        var survivors = 0
        for _ in 0..<50 {
            survivors = Self.processes(matching: "sleep 610.25")
            if survivors == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(survivors == 0)
        #expect(
            try await sluice(["gate", "list", "--state", "error", "--json"], in: repository).stdout.contains(
                "interrupted"))
        // What it is known to have run (to its log's last write) is charged, at most its limit and grace.
        let charged = try await interruptedCharges(in: repository)
        #expect(charged.count == 1 && charged[0] >= 0 && charged[0] <= 121, "\(charged)")
    }

    /// The seconds of every `compute_time` cost recorded for an interrupted gate.
    func interruptedCharges(in repository: TemporaryGitRepository) async throws -> [Double] {
        let listed = try await sluice(["cost", "list", "--type", "compute_time", "--json"], in: repository).stdout
        return listed.split(separator: "\n").compactMap { line in
            let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let metadata = record?["metadata"] as? [String: Any]
            guard metadata?["interrupted"] as? Bool == true else { return nil }
            return (metadata?["duration_seconds"] as? NSNumber)?.doubleValue
        }
    }

    /// Starts `sluice` in `directory` without waiting for it; its output goes to `output` (a file), or nowhere.
    static func start(_ arguments: [String], in directory: String, output: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLineProcess.executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = output.flatMap { FileHandle(forWritingAtPath: $0) } ?? FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// What the global budget holds, from `budget show --json`.
    func held(in repository: TemporaryGitRepository) async throws -> Double? {
        let shown = try await sluice(["budget", "show", "global", "--json"], in: repository).stdout
        let budget = (try JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [String: Any])?["budget"]
        return (budget as? [String: Any])?["held"] as? Double
    }

    /// Live (non-zombie) processes whose command line contains `text`.
    static func processes(matching text: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var count = 0
        for pid in entries where Int(pid) != nil {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            let command = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            if command.contains(text), !stat.contains(") Z ") { count += 1 }
        }
        return count
    }

    func submitOne(_ repository: TemporaryGitRepository) async throws {
        _ = try await sluice(["init"], in: repository)
        let diff = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        let submitted = try await sluice(["patch", "submit", "-", "--project", "p"], in: repository, input: diff)
        #expect(submitted.status == 0, "\(submitted.stderr)")
    }

    static func repository(gate: String, sandbox: String) throws -> TemporaryGitRepository {
        try TemporaryGitRepository(files: [
            "notes.txt": "one\ntwo\nthree\n",
            "sluice.yml": """
            target_branch: main
            sandbox: \(sandbox)
            gates:
              - {name: check, type: custom, command: '\(gate)', criteria: {timeout_seconds: 60}}

            """,
        ])
    }

    @Test("unsealed (sandbox: none), sluice run kills what a gate left outside its group, and sees no secret")
    func unsealedRun() async throws {
        let repository = try Self.repository(
            gate: "setsid sleep 4242.31 & test -z \"$MY_API_SECRET\"", sandbox: "none")
        try await submitOne(repository)
        let run = try await CommandLineProcess.run(
            ["run"], environment: ["MY_API_SECRET": "hunter2"], directory: repository.path)
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(!run.stderr.contains("warning"), "sandbox: none is a choice, not a surprise")
        var survivors = 1
        for _ in 0..<50 {
            survivors = Self.processes(matching: "sleep 4242.31")
            if survivors == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(survivors == 0, "setsid sleep 4242.31 outlived the gate and the run")
    }

    @Test("unsealed, sluice run (a child subreaper) finds and kills every process a gate left outside its group")
    func unsealedOrphans() async throws {
        // Run by the real binary: making this test process a subreaper would make it adopt, and a later
        // sweep kill, the daemons other tests start (the PostgreSQL servers' postmasters).
        // One detached child; one whose parent exits at once; one whose parent is still alive in the
        // gate's group when the gate ends (it is handed over only once that parent is killed); and a
        // job in a group of its own (set -m) that stayed in the gate's session.
        let script = """
            setsid sleep 4242.21 &
            sh -c 'setsid sleep 4242.22 & exit 0'
            sh -c 'setsid sleep 4242.23 & sleep 30' &
            sh -c 'set -m; sleep 4242.24 & echo job' &
            sleep 0.3; echo started

            """
        let repository = try TemporaryGitRepository(files: [
            "notes.txt": "one\ntwo\nthree\n", "tests/leave.sh": script,
            "sluice.yml": """
            target_branch: main
            sandbox: none
            gates:
              - {name: check, type: custom, command: 'sh tests/leave.sh', criteria: {timeout_seconds: 60}}

            """,
        ])
        try await submitOne(repository)
        let run = try await sluice(["run"], in: repository)
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        for seconds in ["4242.21", "4242.22", "4242.23", "4242.24"] {
            var survivors = 1
            for _ in 0..<50 {
                survivors = Self.processes(matching: "sleep \(seconds)")
                if survivors == 0 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(survivors == 0, "sleep \(seconds) outlived its gate")
        }
    }

    @Test("sandbox: auto without bubblewrap prints one warning line on standard error, and runs unsealed")
    func autoWithoutBubblewrap() async throws {
        let repository = try Self.repository(gate: "true", sandbox: "auto")
        try await submitOne(repository)
        let run = try await CommandLineProcess.run(
            ["run"], environment: ["SLUICE_BWRAP": ""], directory: repository.path)
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let warnings = run.stderr.split(separator: "\n").filter { $0.hasPrefix("warning: ") }
        #expect(warnings.count == 1 && warnings[0].contains("gates are not sealed"), "\(run.stderr)")
        #expect(!run.stdout.contains("not sealed") && run.stdout.contains("1 landed"))
    }

    @Test("sandbox: bubblewrap without bubblewrap stops the run with exit 1 and says why; nothing runs unsealed")
    func bubblewrapMissing() async throws {
        let repository = try Self.repository(gate: "true", sandbox: "bubblewrap")
        try await submitOne(repository)
        let run = try await CommandLineProcess.run(
            ["run"], environment: ["SLUICE_BWRAP": ""], directory: repository.path)
        #expect(run.status == 1)
        #expect(
            run.stderr.contains("sandbox: bubblewrap") && run.stderr.contains("SLUICE_BWRAP is empty"), "\(run.stderr)")
        #expect(try await sluice(["gate", "list", "--json"], in: repository).stdout.isEmpty)
    }

    @Test(
        "sealed, sluice run hides the caller's secrets and the ledger from the gate",
        .enabled(if: TestBubblewrap.isInstalled, Comment(rawValue: TestBubblewrap.skipReason)))
    func sealedRun() async throws {
        let gate =
            "setsid sleep 4242.32 & test -z \"$MY_API_SECRET\" && ! ls ../../sluice.db && ! ls \"$(git rev-parse --git-common-dir)/../.sluice/sluice.db\""
        let repository = try Self.repository(gate: gate, sandbox: "auto")
        try await submitOne(repository)
        let run = try await CommandLineProcess.run(
            ["run"], environment: ["MY_API_SECRET": "hunter2"], directory: repository.path)
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("1 landed") && run.stderr.isEmpty, "\(run.stderr)")
        var survivors = 1
        for _ in 0..<50 {
            survivors = Self.processes(matching: "sleep 4242.32")
            if survivors == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(survivors == 0, "setsid sleep 4242.32 outlived the sealed gate")
    }

    @Test(
        "sluice demo runs the whole loop: fake agents' tasks, gated, landed or quarantined, one held back by a budget")
    func demo() async throws {
        let folder = TemporaryDirectory()
        let result = try await CommandLineProcess.run(["demo", "--keep", folder.file("demo")])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("agent-good") && result.stdout.contains("landed on main"))
        #expect(result.stdout.contains("protected_path: sluice.yml"))
        #expect(result.stdout.contains("tests.test_calc.CalcTests.test_add"))
        #expect(result.stdout.contains("stalled: no output and no change in the workspace for 2 s"))
        #expect(result.stdout.contains("status: tasks 1 queued, 3 done, 1 failed · patches 1 landed, 2 quarantined"))
        #expect(result.stdout.contains("api_call      0.0225 USD (4 records)"))
        // One patch landed: everything spent (0.0225 USD of tokens, and the gates' seconds) is its cost.
        // The gates' seconds vary with the machine (0.0001 USD a second): the cost is the tokens' and more.
        // (Decimal is exact for these short decimal numbers.)
        let perPatch = result.stdout.firstMatch(of: /cost per landed patch: ([0-9.]+) USD/).map { String($0.1) }
        let compute = result.stdout.firstMatch(of: /compute_time +([0-9.]+) USD/).map { String($0.1) }
        #expect(
            perPatch.flatMap { Decimal(string: $0) }
                == compute.flatMap { Decimal(string: $0) }.map {
                    Decimal(string: "0.0225")! + $0
                }, "\(perPatch ?? "no cost per landed patch"), \(compute ?? "no compute_time line")")
        #expect(result.stdout.contains("% spent on work that did not land"))
        #expect(result.stdout.contains("agent-spender  queued"))
        #expect(result.stdout.contains("Budget: hard budget task:") && result.stdout.contains("estimate 0.5 > 0.1"))
        #expect(FileManager.default.fileExists(atPath: folder.file("demo/.sluice/sluice.db")))
        let busy = try await CommandLineProcess.run(["demo", "--keep", folder.file("demo")])
        #expect(busy.status == 64 && busy.stderr.contains("not empty"))
    }
}
