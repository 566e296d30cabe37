import Foundation
import SluiceCore
import Testing

@Suite("Tasks: states, epochs and attempts")
struct TaskRecordTests {
    static let allowed: Set<String> = [
        "queued>running", "running>queued", "running>done", "running>failed", "running>cancelled",
        "queued>cancelled",
    ]
    static let pairs = TaskState.allCases.flatMap { from in TaskState.allCases.map { (from, $0) } }
    static let start = Timestamp(milliseconds: 1_767_225_600_000)

    static func task(maxAttempts: Int = 3) -> TaskRecord {
        TaskRecord(
            taskID: .make(),
            request: TaskRequest(
                prompt: "fix the bug", projectID: "calc", executionRequestID: .make(), maxAttempts: maxAttempts),
            at: start)
    }

    @Test("task transitions follow the table", arguments: pairs)
    func table(from: TaskState, to: TaskState) {
        #expect(from.canTransition(to: to) == Self.allowed.contains("\(from.rawValue)>\(to.rawValue)"))
    }

    @Test("a claim starts an attempt under a new epoch; only that epoch may finish it")
    func epochs() throws {
        let worker = WorkerID.make()
        let claimed = try Self.task().applying(.claim(workerID: worker, epoch: 1), at: Self.start)
        #expect(claimed.state == .running && claimed.epoch == 1 && claimed.attempts == 1)
        #expect(claimed.workerID == worker && claimed.claimedAt == Self.start)
        #expect {
            try claimed.applying(.complete(epoch: 0, ledgerID: nil), at: Self.start)
        } throws: { error in
            (error as? SluiceError)?.code == .lostRace
                && (error as? SluiceError)?.message.contains("epoch 0 is stale") == true
        }
        let patch = LedgerID.make()
        let done = try claimed.applying(.complete(epoch: 1, ledgerID: patch), at: Self.start)
        #expect(done.state == .done && done.ledgerID == patch && done.finishedAt == Self.start)
        #expect(throws: SluiceError.self) { try done.applying(.fail(epoch: 1, reason: "late"), at: Self.start) }
    }

    @Test("a claim must raise the epoch")
    func claimRaisesEpoch() throws {
        let first = try Self.task().applying(.claim(workerID: .make(), epoch: 1), at: Self.start)
        let back = try first.applying(.requeue(epoch: 1, reason: "lease expired"), at: Self.start)
        #expect(throws: SluiceError.self) { try back.applying(.claim(workerID: .make(), epoch: 1), at: Self.start) }
        let second = try back.applying(.claim(workerID: .make(), epoch: 2), at: Self.start)
        #expect(second.epoch == 2 && second.attempts == 2)
    }

    @Test("requeues keep the crash history; the last attempt's requeue fails the task as poison")
    func poison() throws {
        var task = Self.task(maxAttempts: 3)
        for epoch in Int64(1)...3 {
            task = try task.applying(.claim(workerID: .make(), epoch: epoch), at: Self.start)
            task = try task.applying(.requeue(epoch: epoch, reason: "lease expired"), at: Self.start)
        }
        #expect(task.state == .failed && task.attempts == 3)
        #expect(task.crashes.map(\.attempt) == [1, 2, 3] && task.crashes.map(\.epoch) == [1, 2, 3])
        #expect(task.reason?.hasPrefix("poison task: 3 attempts") == true)
        #expect(task.workerID == nil)
    }

    @Test("cancelling a running task ends its claim: the agent's late report is refused")
    func cancelFences() throws {
        let worker = WorkerID.make()
        let claimed = try Self.task().applying(.claim(workerID: worker, epoch: 1), at: Self.start)
        let cancelled = try claimed.applying(.cancel, at: Self.start)
        #expect(cancelled.state == .cancelled && cancelled.epoch == 2 && cancelled.workerID == worker)
        #expect(throws: SluiceError.self) {
            try cancelled.applying(.complete(epoch: 1, ledgerID: nil), at: Self.start)
        }
    }

    @Test(
        "bad requests are refused with the field named",
        arguments: [
            (TaskRequest(prompt: "  \n", projectID: "p", executionRequestID: .make()), "prompt must not be empty"),
            (TaskRequest(prompt: "x", projectID: "", executionRequestID: .make()), "project"),
            (TaskRequest(prompt: "x", projectID: "p", executionRequestID: .make(), priority: 1001), "priority"),
            (TaskRequest(prompt: "x", projectID: "p", executionRequestID: .make(), maxAttempts: 0), "max attempts"),
            (TaskRequest(prompt: "x", projectID: "p", executionRequestID: .make(), branch: ""), "branch"),
            (
                TaskRequest(
                    prompt: String(repeating: "x", count: TaskRequest.maxPromptBytes + 1), projectID: "p",
                    executionRequestID: .make()), "at most"
            ),
        ])
    func badRequests(request: TaskRequest, words: String) {
        #expect {
            try request.validated()
        } throws: { error in
            (error as? SluiceError)?.code == .invalidInput && (error as? SluiceError)?.message.contains(words) == true
        }
    }

    @Test("the record encodes with the schema's field names")
    func encoding() throws {
        let task = try Self.task().applying(.claim(workerID: .make(), epoch: 1), at: Self.start)
        let object = try #require(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(task)) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "task_id", "prompt", "project_id", "workstream_id", "phase", "execution_request_id", "priority",
                "agent", "branch", "state", "epoch", "attempts", "max_attempts", "worker_id", "created_at",
                "updated_at", "claimed_at", "finished_at", "ledger_id", "reason", "crashes", "metadata",
            ])
        #expect(object["state"] as? String == "running" && object["epoch"] as? Int == 1)
    }
}
