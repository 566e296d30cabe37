import SluiceCore
import SluiceStore

extension PostgresTransaction {
    /// The gate columns after `gate_id`, in the order they are bound (INSERT and UPDATE alike).
    static let gateColumns = [
        "name", "gate_type", "state", "project_id", "execution_request_id", "criteria", "started_at", "completed_at",
        "duration_seconds", "command", "exit_code", "results", "decision", "created_at", "updated_at", "metadata",
    ]
    static let gateSelect = "SELECT gate_id, \(gateColumns.joined(separator: ", ")) FROM test_gates"

    static let gateInsert = insertStatement("test_gates", columns: ["gate_id"] + gateColumns)
    static let gateUpdate = compareAndSetStatement("test_gates", key: "gate_id", columns: gateColumns)

    func insertGate(_ gate: TestGateRecord, event: Event) throws {
        try insertGateRow(gate)
        pendingEvents.append(event)
    }

    /// Stores the gate's row alone.
    func insertGateRow(_ gate: TestGateRecord) throws {
        var binds = Binds()
        binds.add(gate.gateID)
        Self.bindGate(gate, &binds)
        try execute(Self.gateInsert, binds)
    }

    func updateGate(_ id: GateID, _ change: Change<TestGateRecord>) throws -> TestGateRecord {
        try transition(
            id: id.description, noun: "gate", table: "test_gates", key: "gate_id",
            load: { try gate(id) }, state: { $0.state.rawValue },
            write: { gate, expected in
                var binds = Binds()
                Self.bindGate(gate, &binds)
                binds.add(gate.gateID)
                binds.add(expected)
                return try execute(Self.gateUpdate, binds)
            }, change: change)
    }

    func gate(_ id: GateID) throws -> TestGateRecord? {
        var binds = Binds()
        binds.add(id)
        return try rows("\(Self.gateSelect) WHERE gate_id = $1", binds, Self.decodeGate).first
    }

    func gates(_ filter: GateFilter) throws -> [TestGateRecord] {
        var binds = Binds()
        var terms: [String] = []
        for (column, value) in [
            ("project_id", filter.projectID), ("state", filter.state?.rawValue),
            ("gate_type", filter.gateType?.rawValue), ("name", filter.name),
            ("metadata->>'ledger_id'", filter.ledgerID), ("metadata->>'check'", filter.check),
        ] {
            guard let value else { continue }
            binds.add(value)
            terms.append("\(column) = $\(binds.count)")
        }
        var sql = Self.gateSelect + (terms.isEmpty ? "" : " WHERE " + terms.joined(separator: " AND "))
        sql += " ORDER BY created_at DESC, gate_id DESC"
        if let limit = filter.limit {
            binds.add(Int64(max(0, limit)))
            sql += " LIMIT $\(binds.count)"
        }
        return try rows(sql, binds, Self.decodeGate)
    }

    // MARK: - Mapping

    static func bindGate(_ gate: TestGateRecord, _ binds: inout Binds) {
        binds.add(gate.name)
        binds.add(gate.gateType.rawValue)
        binds.add(gate.state.rawValue)
        binds.add(gate.projectID)
        binds.add(gate.executionRequestID)
        binds.add(json: gate.criteria.jsonColumn)
        binds.add(gate.execution.startedAt)
        binds.add(gate.execution.completedAt)
        binds.add(gate.execution.durationSeconds)
        binds.add(gate.execution.command)
        binds.add(gate.execution.exitCode)
        binds.add(json: gate.results?.jsonColumn)
        binds.add(json: gate.decision?.jsonColumn)
        binds.add(gate.createdAt)
        binds.add(gate.updatedAt)
        binds.add(json: JSONValue.object(gate.metadata).jsonText)
    }

    static func decodeGate(_ row: inout Cells) throws -> TestGateRecord {
        let id: GateID = try row.id()
        let name = try row.string()
        let type: GateType = try row.enumeration()
        let state: GateState = try row.enumeration()
        let project = try row.text()
        let request: ExecutionRequestID? = try row.optionalID()
        let criteria = try row.json(GateCriteria.self)
        var execution = GateExecution()
        execution.startedAt = try row.optionalTimestamp()
        execution.completedAt = try row.optionalTimestamp()
        execution.durationSeconds = try row.optionalDouble()
        execution.command = try row.text()
        execution.exitCode = try row.optionalInt()
        let results = try row.optionalJSON(GateResults.self)
        let decision = try row.optionalJSON(GateDecision.self)
        let createdAt = try row.timestamp()
        let updatedAt = try row.timestamp()
        var gate = TestGateRecord(
            gateID: id, name: name, gateType: type, projectID: project, executionRequestID: request,
            criteria: criteria, metadata: try row.object(), at: createdAt)
        gate.state = state
        gate.updatedAt = updatedAt
        gate.execution = execution
        gate.results = results
        gate.decision = decision
        return gate
    }
}
