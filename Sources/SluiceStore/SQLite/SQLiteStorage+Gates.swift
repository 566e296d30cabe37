import GRDB
import SluiceCore

extension SQLiteTransaction {
    static let gateColumns = ColumnSet([
        "gate_id", "name", "gate_type", "state", "project_id", "execution_request_id", "criteria", "started_at",
        "completed_at", "duration_seconds", "command", "exit_code", "results", "decision", "created_at", "updated_at",
        "metadata",
    ])
    static let selectGateByID = "SELECT \(gateColumns.sql) FROM test_gates WHERE gate_id = ?"

    package func insertGate(_ gate: TestGateRecord, event: Event) throws {
        try insertGateRow(gate)
        try Self.append(event, db)
    }

    /// Stores the gate's row alone.
    func insertGateRow(_ gate: TestGateRecord) throws {
        try db.execute(
            sql: """
                INSERT INTO test_gates (name, gate_type, state, project_id, execution_request_id, criteria,
                    started_at, completed_at, duration_seconds, command, exit_code, results, decision, created_at,
                    updated_at, metadata, gate_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: Self.gateArguments(gate) + [gate.gateID.description])
    }

    package func updateGate(_ id: GateID, _ change: Change<TestGateRecord>) throws -> TestGateRecord {
        try transition(
            id: id.description, noun: "gate",
            load: { db in
                try Row.fetchOne(db.cachedStatement(sql: Self.selectGateByID), arguments: [id.description]).map(
                    Self.decodeGate)
            },
            state: { $0.state.rawValue },
            write: { db, gate, expected in
                try db.execute(
                    sql: """
                        UPDATE test_gates SET name = ?, gate_type = ?, state = ?, project_id = ?,
                            execution_request_id = ?, criteria = ?, started_at = ?, completed_at = ?,
                            duration_seconds = ?, command = ?, exit_code = ?, results = ?, decision = ?, created_at = ?,
                            updated_at = ?, metadata = ?
                        WHERE gate_id = ? AND state = ?
                        """, arguments: Self.gateArguments(gate) + [gate.gateID.description, expected])
            }, change: change)
    }

    package func gate(_ id: GateID) throws -> TestGateRecord? {
        try Row.fetchOne(db.cachedStatement(sql: Self.selectGateByID), arguments: [id.description])
            .map(Self.decodeGate)
    }

    package func gates(_ filter: GateFilter) throws -> [TestGateRecord] {
        var conditions = Conditions()
        conditions.equal("project_id", filter.projectID)
        conditions.equal("state", filter.state?.rawValue)
        conditions.equal("gate_type", filter.gateType?.rawValue)
        conditions.equal("name", filter.name)
        conditions.equal("json_extract(metadata, '$.ledger_id')", filter.ledgerID)
        conditions.equal("json_extract(metadata, '$.check')", filter.check)
        return try Row.fetchAll(
            db.cachedStatement(
                sql:
                    "SELECT \(Self.gateColumns.sql) FROM test_gates \(conditions.sql) ORDER BY created_at DESC, gate_id DESC"
                    + (filter.limit.map { " LIMIT \(max(0, $0))" } ?? "")
            ), arguments: conditions.statementArguments
        ).map(Self.decodeGate)
    }

    // MARK: - Mapping

    static func gateArguments(_ gate: TestGateRecord) -> StatementArguments {
        let values: [(any DatabaseValueConvertible)?] = [
            gate.name, gate.gateType.rawValue, gate.state.rawValue, gate.projectID,
            gate.executionRequestID?.description, gate.criteria.jsonColumn, gate.execution.startedAt?.description,
            gate.execution.completedAt?.description, gate.execution.durationSeconds, gate.execution.command,
            gate.execution.exitCode, gate.results?.jsonColumn, gate.decision?.jsonColumn, gate.createdAt.description,
            gate.updatedAt.description, JSONValue.object(gate.metadata).jsonText,
        ]
        return StatementArguments(values)
    }

    static func decodeGate(_ row: Row) throws -> TestGateRecord {
        let row = RowReader(row, gateColumns)
        var gate = TestGateRecord(
            gateID: try Column.id(row, "gate_id"), name: try Column.string(row, "name"),
            gateType: try Column.enumeration(row, "gate_type"), projectID: row["project_id"],
            executionRequestID: try Column.optionalID(row, "execution_request_id"),
            criteria: try Column.json(row, "criteria", as: GateCriteria.self),
            metadata: try Column.object(row, "metadata"),
            at: try Column.timestamp(row, "created_at"))
        gate.state = try Column.enumeration(row, "state")
        gate.updatedAt = try Column.timestamp(row, "updated_at")
        gate.execution.startedAt = try Column.optionalTimestamp(row, "started_at")
        gate.execution.completedAt = try Column.optionalTimestamp(row, "completed_at")
        gate.execution.durationSeconds = row["duration_seconds"]
        gate.execution.command = row["command"]
        gate.execution.exitCode = row["exit_code"]
        gate.results = try Column.optionalJSON(row, "results", as: GateResults.self)
        gate.decision = try Column.optionalJSON(row, "decision", as: GateDecision.self)
        return gate
    }
}
