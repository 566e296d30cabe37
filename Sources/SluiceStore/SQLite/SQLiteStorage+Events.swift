import GRDB
import SluiceCore

extension SQLiteTransaction {
    static let eventColumns = ColumnSet([
        "seq", "entity_kind", "entity_id", "from_state", "to_state", "reason", "at", "actor", "payload",
    ])

    package func events(entityID: String?, after sequence: Int64, limit: Int?) throws -> [Event] {
        var conditions = Conditions()
        conditions.equal("entity_id", entityID)
        conditions.add("seq > ?")
        return try Row.fetchAll(
            db.cachedStatement(
                sql: "SELECT \(Self.eventColumns.sql) FROM events \(conditions.sql) ORDER BY seq LIMIT ?"),
            arguments: conditions.statementArguments + [sequence, limit ?? -1]
        ).map { row in
            let row = RowReader(row, Self.eventColumns)
            return Event(
                sequence: row["seq"], entityKind: try Column.enumeration(row, "entity_kind"),
                entityID: try Column.string(row, "entity_id"), fromState: row["from_state"],
                toState: row["to_state"], reason: row["reason"], at: try Column.timestamp(row, "at"),
                actor: try Column.string(row, "actor"),
                payload: try Column.object(row, "payload"))
        }
    }
}
