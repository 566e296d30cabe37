/// What kind of work a worker does.
public enum WorkerType: String, CaseIterable, Codable, Sendable {
    case executor, monitor, validator, scheduler, custom
}

/// The five states of a worker. `stopped` and `crashed` are terminal.
public enum WorkerState: String, CaseIterable, Codable, Sendable {
    case idle, busy, paused, stopped, crashed

    /// Whether no transition leaves this state.
    public var isTerminal: Bool { self == .stopped || self == .crashed }

    /// The transition table of DESIGN.md: whether some operation moves a worker from this state to `target`.
    public func canTransition(to target: WorkerState) -> Bool {
        switch (self, target) {
        case (.idle, .busy), (.busy, .idle): true
        case (.idle, .paused), (.busy, .paused): true
        case (.paused, .busy), (.paused, .idle): true
        case (.idle, .crashed), (.busy, .crashed), (.paused, .crashed): true
        case (.idle, .stopped), (.busy, .stopped), (.paused, .stopped): true
        default: false
        }
    }
}

/// Something that happens to a worker.
public enum WorkerEvent: Sendable, Hashable {
    /// Give an idle worker a task.
    case assign(taskID: String)
    /// A busy worker finished its task.
    case complete(success: Bool, executionSeconds: Double)
    /// Hold an idle or busy worker; a busy one keeps its task.
    case pause
    /// Let a paused worker go on: back to `busy` if it still holds a task, else `idle`.
    case resume
    /// The worker failed; its task is released.
    case crash(errorMessage: String, stackTrace: String?)
    /// The worker was shut down; its task is released.
    case shutdown

    /// The operation's name as the command line spells it.
    public var name: String {
        switch self {
        case .assign: "assign"
        case .complete: "complete"
        case .pause: "pause"
        case .resume: "resume"
        case .crash: "crash"
        case .shutdown: "stop"
        }
    }

    /// The states from which the event is accepted.
    public var acceptedStates: [WorkerState] {
        switch self {
        case .assign: [.idle]
        case .complete: [.busy]
        case .pause: [.idle, .busy]
        case .resume: [.paused]
        case .crash, .shutdown: [.idle, .busy, .paused]
        }
    }
}
