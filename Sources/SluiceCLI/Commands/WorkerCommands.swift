import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine

/// `sluice worker …`: the WorkerLifecycle.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Create workers and move them through their lifecycle.",
        subcommands: [
            Create.self, List.self, Show.self, Assign.self, Complete.self, Heartbeat.self, Pause.self, Resume.self,
            Crash.self, Stop.self, Stale.self, Run.self, Reap.self, GC.self,
        ])

    static func describe(_ worker: WorkerRecord) -> String {
        Output.fields([
            ("worker", worker.workerID.description), ("type", worker.workerType.rawValue),
            ("state", worker.state.rawValue), ("task", worker.currentTaskID),
            ("started", worker.startedAt.description), ("heartbeat", worker.lastHeartbeat.description),
            ("stopped", worker.stoppedAt?.description),
            ("crash", worker.crashInfo.map { "\($0.errorMessage) at \($0.crashedAt)" }),
            (
                "tasks",
                "\(worker.statistics.tasksCompleted) completed, \(worker.statistics.tasksFailed) failed, "
                    + "\(worker.statistics.totalExecutionTime) s, avg \(worker.statistics.avgTaskDuration) s"
            ),
        ])
    }

    static func printList(_ workers: [WorkerRecord], _ global: GlobalOptions, empty: String) throws {
        try Output(global).list(
            workers, empty: empty,
            columns: [
                ("WORKER", { $0.workerID.description }), ("TYPE", { $0.workerType.rawValue }),
                ("STATE", { $0.state.rawValue }), ("TASK", { $0.currentTaskID ?? "-" }),
                ("HEARTBEAT", { $0.lastHeartbeat.description }),
            ])
    }

    /// Runs one transition and prints the worker after it.
    static func transition(
        _ global: GlobalOptions, _ id: String, _ verb: String,
        _ body: (WorkerService, WorkerID) async throws -> WorkerRecord
    ) async throws {
        let engine = try await global.engine()
        let worker = try await body(engine.workers, try Parse.id(id))
        try Output(global).record(worker, "worker \(worker.workerID) \(verb): now \(worker.state.rawValue)")
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an idle worker.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "executor, monitor, validator, scheduler or custom.") var type: String
        @Option(help: "A ULID to use as the worker's id (default: a new one).") var id: String?
        @Option(help: "JSON: {max_parallel_tasks, heartbeat_interval, timeout_seconds}.") var config: String?
        @Option(help: "A JSON object kept with the worker.") var metadata: String?

        func run() async throws {
            let type: WorkerType = try Parse.enumeration(type, option: "--type")
            let id: WorkerID? = try Parse.optionalID(id)
            var workerConfig = WorkerConfig()
            if let config {
                _ = try JSONValue.parseObject(config, what: "--config")
                workerConfig = try SluiceJSON.decode(WorkerConfig.self, from: Data(config.utf8), what: "--config")
            }
            let metadata = try Parse.object(metadata, option: "--metadata")
            let worker = try await global.engine().workers.create(
                type: type, id: id, config: workerConfig, metadata: metadata)
            try Output(global).record(worker, "created worker \(worker.workerID) (\(worker.workerType.rawValue), idle)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List workers, newest first.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only workers in this state.") var state: String?
        @Option(help: "Only workers of this type.") var type: String?

        func run() async throws {
            let state: WorkerState? = try Parse.optionalEnumeration(state, option: "--state")
            let type: WorkerType? = try Parse.optionalEnumeration(type, option: "--type")
            try await WorkerCommand.printList(
                try global.engine().workers.list(state: state, type: type), global, empty: "no workers")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one worker.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The worker's id.") var id: String

        func run() async throws {
            let worker = try await global.engine().workers.get(try Parse.id(id))
            try Output(global).record(worker, WorkerCommand.describe(worker))
        }
    }

    struct Assign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give an idle worker a task (→ busy).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The worker's id.") var id: String
        @Option(help: "The task's id.") var task: String

        func run() async throws {
            try await WorkerCommand.transition(global, id, "assigned \(task)") { try await $0.assign($1, task: task) }
        }
    }

    struct Complete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record that a busy worker finished its task (→ idle).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The worker's id.") var id: String
        @Flag(help: "The task failed.") var failed = false
        @Option(help: "Seconds the task took.") var seconds: String = "0"

        func run() async throws {
            let seconds = try Parse.seconds(seconds, option: "--seconds")
            try await WorkerCommand.transition(global, id, failed ? "failed its task" : "completed its task") {
                try await $0.complete($1, success: !failed, executionSeconds: seconds)
            }
        }
    }

    struct Heartbeat: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Renew a live worker's lease.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The worker's id.") var id: String

        func run() async throws {
            try await WorkerCommand.transition(global, id, "renewed its lease") { try await $0.heartbeat($1) }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause an idle or busy worker (it keeps its task).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The worker's id.") var id: String

        func run() async throws { try await WorkerCommand.transition(global, id, "paused") { try await $0.pause($1) } }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a paused worker (→ busy if it holds a task, else idle).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The worker's id.") var id: String

        func run() async throws {
            try await WorkerCommand.transition(global, id, "resumed") { try await $0.resume($1) }
        }
    }

    struct Crash: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a crash (→ crashed; the task is released).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The worker's id.") var id: String
        @Option(help: "What went wrong.") var error: String
        @Option(help: "The stack trace, if any.") var stackTrace: String?

        func run() async throws {
            try await WorkerCommand.transition(global, id, "crashed") {
                try await $0.crash($1, error: error, stackTrace: stackTrace)
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a worker: a busy one finishes its task first; with --now, at once (→ stopped).",
            discussion: """
                A worker running a task of the queue is asked to stop: its supervisor lets the agent finish and                 claims nothing more. With --now, or for any other worker, it stops at once: its task goes back to                 the queue, and its supervisor kills the agent.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The worker's id.") var id: String
        @Flag(help: "Stop at once: kill the agent and requeue its task.") var now = false

        func run() async throws {
            let engine = try await global.engine()
            let worker =
                now
                ? try await engine.workers.shutdown(try Parse.id(id))
                : try await engine.workers.requestStop(try Parse.id(id))
            let message =
                worker.state == .stopped
                ? "worker \(worker.workerID) stopped: now stopped"
                : "worker \(worker.workerID) will stop once task \(worker.currentTaskID ?? "-") is done"
            try Output(global).record(worker, message)
        }
    }

    struct Stale: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List live workers whose lease is older than the timeout, by the database's clock.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Seconds without a heartbeat.") var timeout: String = "300"

        func run() async throws {
            let timeout = try Parse.seconds(timeout, option: "--timeout")
            try await WorkerCommand.printList(
                try global.engine().workers.stale(timeout: timeout), global, empty: "no stale workers")
        }
    }
}
