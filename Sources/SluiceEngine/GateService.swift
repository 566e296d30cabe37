import SluiceCore
import SluiceStore

/// TestGate: quality gates that run a check, compare its results with criteria and decide.
public struct GateService: Sendable {
    let context: EngineContext

    public init(_ context: EngineContext) {
        self.context = context
    }

    /// Creates a pending gate.
    ///
    /// - Throws: `invalidInput` for an empty name or out-of-range criteria.
    ///
    /// - Parameter starting: when given, the gate is also started with this command, in the same unit
    ///   of work: a run killed in between leaves no gate that never started.
    @discardableResult
    public func create(
        name: String, type: GateType, project: String? = nil, request: ExecutionRequestID? = nil,
        criteria: GateCriteria = GateCriteria(), metadata: [String: JSONValue] = [:], starting command: String? = nil
    ) async throws -> TestGateRecord {
        guard !name.isEmpty else { throw SluiceError.invalidInput("a gate needs a name") }
        let now = context.clock.now()
        let gate = TestGateRecord(
            gateID: GateID.make(context.ids), name: name, gateType: type, projectID: project,
            executionRequestID: request, criteria: try criteria.validated(), metadata: metadata, at: now)
        let event = context.event(.gate, gate.gateID.description, from: nil, to: GateState.pending.rawValue, at: now)
        let start = command.map { step(.start(command: $0), gate.gateID) }
        return try await context.storage.write { tx in
            try tx.insertGate(gate, event: event)
            return try start?(tx) ?? gate
        }
    }

    /// Starts a pending gate, recording the command and the start time.
    @discardableResult
    public func start(_ id: GateID, command: String? = nil) async throws -> TestGateRecord {
        try await context.storage.write(step(.start(command: command), id))
    }

    /// Completes a running gate with its exit code and parsed results; the criteria decide
    /// `passed` or `failed` (or `error` when the results cannot be trusted).
    ///
    /// - Parameter mustRun: tests that passed on the target branch and must be in the results.
    @discardableResult
    public func complete(_ id: GateID, exitCode: Int?, results: GateResults?, mustRun: [String] = []) async throws
        -> TestGateRecord
    {
        try await context.storage.write(step(.complete(exitCode: exitCode, results: results, mustRun: mustRun), id))
    }

    /// Ends a running gate in `error`: the check gave no trustworthy results.
    @discardableResult
    public func fail(_ id: GateID, error message: String, exitCode: Int? = nil) async throws -> TestGateRecord {
        try await context.storage.write(step(.error(message: message, exitCode: exitCode), id))
    }

    /// Skips a pending or running gate.
    @discardableResult
    public func skip(_ id: GateID, reason: String) async throws -> TestGateRecord {
        try await context.storage.write(step(.skip(reason: reason), id))
    }

    /// The gate with this id. - Throws: `notFound`.
    public func get(_ id: GateID) async throws -> TestGateRecord {
        guard let gate = try await context.storage.gate(id) else { throw SluiceError.notFound("gate", id.description) }
        return gate
    }

    /// Gates, newest first.
    public func list(_ filter: GateFilter = GateFilter()) async throws -> [TestGateRecord] {
        try SluiceError.checkLimit(filter.limit)
        return try await context.storage.gates(filter)
    }

    /// One transition of a gate, as a step of a unit of work.
    public func step(_ event: GateEvent, _ id: GateID) -> Step<TestGateRecord> {
        let context = self.context
        return { tx in
            try tx.updateGate(id) { current in
                let now = context.clock.now()
                let next = try current.applying(event, at: now)
                return (
                    next,
                    context.event(
                        .gate, id.description, from: current.state.rawValue, to: next.state.rawValue,
                        reason: next.decision?.reason, at: now, payload: ["operation": .string(event.name)])
                )
            }
        }
    }
}
