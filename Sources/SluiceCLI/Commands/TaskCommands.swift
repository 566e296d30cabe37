import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine
import SluiceStore

/// `sluice task …`: the queue of instructions for agents.
struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "Queue instructions for agents, and follow them.",
        discussion: """
            A task is queued, then claimed by a worker (running, under a new epoch: the fencing token every \
            report about the attempt must carry), then done, failed or cancelled. An attempt that ends without an \
            outcome (its worker's lease expired) sends the task back to the queue; after its last attempt it \
            fails as a poison task.
            """,
        subcommands: [Add.self, List.self, Show.self, Cancel.self, Claim.self, Complete.self, Fail.self, Requeue.self])

    static func describe(_ task: TaskRecord) -> String {
        let firstLine = task.prompt.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? ""
        return Output.fields([
            ("task", task.taskID.description), ("state", task.state.rawValue),
            // What an agent (or whoever queued the task) wrote reaches the terminal escaped (Output.fields).
            ("prompt", firstLine.count > 100 ? String(firstLine.prefix(100)) + "…" : firstLine),
            ("project", task.projectID), ("workstream", task.workstreamID), ("phase", task.phase),
            ("priority", "\(task.priority)"), ("agent", task.agent), ("branch", task.branch),
            ("attempts", "\(task.attempts) of \(task.maxAttempts) (epoch \(task.epoch))"),
            ("worker", task.workerID?.description), ("patch", task.ledgerID?.description),
            ("reason", task.reason),
            ("estimate", CostEstimate(metadata: task.metadata).map { "\($0.amount) \($0.currency)" }),
            ("created", task.createdAt.description),
            ("finished", task.finishedAt?.description),
            (
                "crashes",
                task.crashes.isEmpty
                    ? nil : task.crashes.map { "attempt \($0.attempt): \($0.reason)" }.joined(separator: "; ")
            ),
        ])
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue a task.",
            discussion: "Give the prompt as an argument, or with --file (- reads standard input); not both.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The instruction for the agent.") var prompt: String?
        @Option(help: "Read the prompt from this file (- for standard input).") var file: String?
        @Option(help: "The project.") var project: String = "default"
        @Option(help: "The workstream.") var workstream: String?
        @Option(help: "The phase.") var phase: String?
        @Option(help: "The execution request's id (default: a new one).") var request: String?
        @Option(help: "From -1000 to 1000; higher runs first (default 0).") var priority: Int = 0
        @Option(help: "Attempts before the task fails as a poison task, 1 to 100 (default 3).")
        var maxAttempts: Int = 3
        @Option(help: "The agent to run it (claude, codex, gemini, aider, command).") var agent: String?
        @Option(help: "The branch to work on (default: the target branch).") var branch: String?
        @Option(
            parsing: .unconditional,
            help: "What the task may cost, held on its budgets before it starts: an amount, then a currency if not USD."
        )
        var estimate: String?

        func run() async throws {
            guard (prompt == nil) != (file == nil) else {
                throw SluiceError.invalidInput("give the prompt as an argument or with --file, one of the two")
            }
            var text = prompt ?? ""
            if let file {
                let data = try Parse.contents(of: file, option: "--file", limit: TaskRequest.maxPromptBytes)
                guard let decoded = String(validating: Array(data), as: UTF8.self) else {
                    throw SluiceError.invalidInput("--file: the prompt is not UTF-8 text")
                }
                text = decoded
            }
            var metadata: [String: JSONValue] = [:]
            if let estimate {
                do {
                    metadata[CostEstimate.metadataKey] = try CostEstimate(parsing: estimate).json
                } catch let error as SluiceError {
                    throw SluiceError.invalidInput("--estimate: \(error.message)")
                }
            }
            let request = TaskRequest(
                prompt: text, projectID: project, workstreamID: workstream, phase: phase,
                executionRequestID: try Parse.optionalID(request) ?? ExecutionRequestID.make(), priority: priority,
                maxAttempts: maxAttempts, agent: agent, branch: branch, metadata: metadata)
            // Inside the repository, a branch that does not exist is refused now, not when a worker claims it.
            if let branch = request.branch,
                let repository = GlobalOptions.repositoryRoot(containing: GlobalOptions.currentDirectory),
                try await Git(repository: repository).commit(of: "refs/heads/\(branch)") == nil
            {
                throw SluiceError.invalidInput("--branch: \(branch) is not a branch of this repository")
            }
            let task = try await global.engine().tasks.add(request)
            try Output(global).record(task, "queued task \(task.taskID) (priority \(task.priority))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tasks, newest first.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only tasks in this state: queued, running, done, failed or cancelled.") var state: String?
        @Option(help: "Only tasks of this project.") var project: String?
        @Option(help: "At most this many (the newest).") var limit: Int?

        func run() async throws {
            let state: TaskState? = try Parse.optionalEnumeration(state, option: "--state")
            let tasks = try await global.engine().tasks.list(TaskFilter(state: state, projectID: project, limit: limit))
            try Output(global).list(
                tasks, empty: "no tasks",
                columns: [
                    ("TASK", { $0.taskID.description }), ("STATE", { $0.state.rawValue }),
                    ("PRIORITY", { "\($0.priority)" }), ("ATTEMPTS", { "\($0.attempts)/\($0.maxAttempts)" }),
                    ("PROJECT", { $0.projectID }),
                    (
                        "PROMPT",
                        { String(($0.prompt.split(separator: "\n").first ?? "").prefix(40)) }
                    ),
                ])
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one task.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The task's id.") var id: String

        func run() async throws {
            let task = try await global.engine().tasks.get(try Parse.id(id))
            try Output(global).record(task, TaskCommand.describe(task))
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a queued or running task; a running one's agent can report nothing more.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The task's id.") var id: String

        func run() async throws {
            let task = try await global.engine().tasks.cancel(try Parse.id(id))
            try Output(global).record(task, "task \(task.taskID) cancelled")
        }
    }

    struct Claim: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Claim the next queued task for a worker: the highest priority, then the oldest.",
            discussion: """
                Prints the task, with the epoch its reports must carry; exits 4 when no task is queued (or, on \
                PostgreSQL, when every queued task is being claimed at that moment). Its estimate (--estimate, \
                else workers.default_estimate of the sluice.yml of the repository around the current directory) \
                is held on its budgets; exits 1 when a hard budget cannot cover any queued task.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The worker's id.") var worker: String
        @Option(help: "Only tasks of this project.") var project: String?

        func run() async throws {
            let worker: WorkerID = try Parse.id(worker)
            // Inside a repository, its sluice.yml's default estimate (as a supervisor there uses it).
            var estimate: CostEstimate?
            if GlobalOptions.repositoryRoot(containing: GlobalOptions.currentDirectory) != nil {
                estimate = try? await global.pipeline().configuration().0.workers.defaultEstimate
            }
            guard
                let task = try await global.engine().tasks.claim(
                    for: worker, projectID: project, defaultEstimate: estimate)
            else {
                throw SluiceError(
                    code: .notFound, message: "no task is queued\(project.map { " in project \($0)" } ?? "")")
            }
            try Output(global).record(
                task, "claimed task \(task.taskID) for worker \(worker): epoch \(task.epoch), attempt \(task.attempts)")
        }
    }

    struct Complete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record that a running task is done.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The task's id.") var id: String
        @Option(help: "The epoch of the claim (from task claim).") var epoch: Int64
        @Option(help: "The ledger id of the patch it produced.") var patch: String?

        func run() async throws {
            let task = try await global.engine().tasks.complete(
                try Parse.id(id), epoch: epoch, patch: try Parse.optionalID(patch))
            try Output(global).record(task, "task \(task.taskID) done")
        }
    }

    struct Fail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Fail a running task with the reason.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The task's id.") var id: String
        @Option(help: "The epoch of the claim (from task claim).") var epoch: Int64
        @Option(help: "Why it failed.") var reason: String

        func run() async throws {
            let task = try await global.engine().tasks.fail(try Parse.id(id), epoch: epoch, reason: reason)
            try Output(global).record(task, "task \(task.taskID) failed: \(reason)")
        }
    }

    struct Requeue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a running task back to the queue: its attempt ended without an outcome.",
            discussion: "After the task's last attempt, it fails as a poison task instead.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The task's id.") var id: String
        @Option(help: "The epoch of the claim (from task claim).") var epoch: Int64
        @Option(help: "Why the attempt ended (for example: worker lost).") var reason: String

        func run() async throws {
            let task = try await global.engine().tasks.requeue(try Parse.id(id), epoch: epoch, reason: reason)
            try Output(global).record(
                task,
                task.state == .failed
                    ? "task \(task.taskID) failed: \(task.reason ?? reason)"
                    : "task \(task.taskID) queued again (attempt \(task.attempts) of \(task.maxAttempts) ended)")
        }
    }
}
