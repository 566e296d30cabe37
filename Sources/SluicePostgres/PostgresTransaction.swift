import NIOCore
import PostgresNIO
import SluiceCore
import SluiceStore

/// One unit of work on one PostgreSQL connection, inside the transaction ``PostgresStorage`` opened.
///
/// Events are kept here and inserted when the body has finished, just before COMMIT: inserting an
/// event takes the event log's lock in SHARE mode (migration 0003), held until the commit. Writers
/// share it, but a settled read waiting for it exclusively makes later writers wait behind it, so it
/// must be the unit's last lock (a unit holding it must never wait for another writer). Reads inside the unit still see its own events: a patch's history
/// adds the pending ones, and ``events(entityID:after:limit:)`` inserts them first.
final class PostgresTransaction: StorageWriter {
    let connection: Connection
    let isWritable: Bool
    /// Seconds added to the database's clock (tests only; 0 in the product).
    let clockOffset: Double
    var pendingEvents: [Event] = []
    /// In a settled read, the highest event number every snapshot of it holds completely
    /// (`sluice_settled_bound()`, migration 0004): the log is read up to it only.
    let eventBound: Int64?

    init(_ connection: Connection, writable: Bool, clockOffset: Double, eventBound: Int64? = nil) {
        self.connection = connection
        self.isWritable = writable
        self.clockOffset = clockOffset
        self.eventBound = eventBound
    }

    // MARK: - Statements

    @discardableResult
    func query(_ sql: String, _ binds: Binds = Binds()) throws -> PostgresQueryResult {
        try connection.query(sql, binds.bindings)
    }

    /// Runs one statement and returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ binds: Binds = Binds()) throws -> Int {
        try connection.execute(sql, binds.bindings)
    }

    /// Decodes every row a SELECT returns.
    func rows<T>(_ sql: String, _ binds: Binds = Binds(), _ decode: (inout Cells) throws -> T) throws -> [T] {
        try query(sql, binds).map { row in
            var cells = Cells(row)
            return try decode(&cells)
        }
    }

    /// The database's clock as SQL: `clock_timestamp()`, moved by the tests' offset.
    var databaseNow: String {
        clockOffset == 0 ? "clock_timestamp()" : "(clock_timestamp() + make_interval(secs => \(clockOffset)))"
    }

    // MARK: - Transitions

    /// `INSERT INTO table (columns…) VALUES ($1, …)`, and `extra` appended as a last column whose value
    /// is SQL (`lease_renewed_at` and the database's clock).
    static func insertStatement(_ table: String, columns: [String], extra: (column: String, sql: String)? = nil)
        -> String
    {
        let names = columns + (extra.map { [$0.column] } ?? [])
        let values = (1...columns.count).map { "$\($0)" } + (extra.map { [$0.sql] } ?? [])
        return "INSERT INTO \(table) (\(names.joined(separator: ", "))) VALUES (\(values.joined(separator: ", ")))"
    }

    /// The compare-and-set of a transition: `UPDATE table SET c = $1, … WHERE key = $n+1 AND state = $n+2`.
    static func compareAndSetStatement(_ table: String, key: String, columns: [String]) -> String {
        let sets = columns.enumerated().map { "\($1) = $\($0 + 1)" }
        return "UPDATE \(table) SET \(sets.joined(separator: ", ")) WHERE \(key) = $\(columns.count + 1) "
            + "AND state = $\(columns.count + 2)"
    }

    /// Reads one row, applies `change`, writes with a compare-and-set on the state read, appends the event.
    ///
    /// In READ COMMITTED, an UPDATE that meets a row another transaction changed waits for that one
    /// to end and then tests its WHERE clause again on the row as committed: when the state moved,
    /// no row matches, and this writer lost the race.
    func transition<Record>(
        id: String, noun: String, table: String, key: String, load: () throws -> Record?,
        state: (Record) -> String, write: (Record, _ expectedState: String) throws -> Int, change: Change<Record>
    ) throws -> Record {
        guard let current = try load() else { throw SluiceError.notFound(noun, id) }
        let (next, event) = try change(current)
        guard try write(next, state(current)) == 1 else {
            var binds = Binds()
            binds.add(id)
            let now = try rows("SELECT state FROM \(table) WHERE \(key) = $1", binds) { try $0.string() }.first
            throw SluiceError(
                code: .lostRace,
                message: "cannot change \(noun) \(id): another writer changed it first (it is now \(now ?? "gone"))",
                currentState: now)
        }
        pendingEvents.append(event)
        return next
    }

    // MARK: - Events

    package func append(_ event: Event) throws {
        pendingEvents.append(event)
    }

    /// Inserts the pending events, in order, and waits for them. The first takes the event log's lock.
    func flushEvents() throws {
        for inserted in sendPendingEvents() { _ = try inserted.wait() }
    }

    /// Queues the INSERTs of the pending events, in order, without waiting: the unit's last statements,
    /// queued with its COMMIT (``Connection/transaction(_:lastStatements:_:)``).
    func sendPendingEvents() -> [EventLoopFuture<PostgresQueryResult>] {
        let events = pendingEvents
        pendingEvents = []
        return events.map { event in
            var binds = Binds()
            binds.bindEventColumns(event)
            return connection.send(
                """
                INSERT INTO events (entity_kind, entity_id, from_state, to_state, reason, at, actor, payload)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """, binds.bindings)
        }
    }

    package func events(entityID: String?, after sequence: Int64, limit: Int?) throws -> [Event] {
        // Reading the log inside a write: the unit's own events are inserted first, so they get their
        // sequence numbers. Only a settled read (``PostgresStorage/readSettled(_:)``,
        // ``PostgresStorage/events(entityID:after:limit:)``) reads the log as a settled prefix.
        try flushEvents()
        let (sql, binds) = Self.eventsStatement(entityID: entityID, after: sequence, upTo: eventBound, limit: limit)
        return try rows(sql, binds, Self.decodeEvent)
    }

    /// The SELECT of the log after `sequence` (and up to `bound`), in order, for one entity when given,
    /// at most `limit`.
    static func eventsStatement(entityID: String?, after sequence: Int64, upTo bound: Int64?, limit: Int?)
        -> (String, Binds)
    {
        var binds = Binds()
        binds.add(sequence)
        var sql = """
            SELECT seq, entity_kind, entity_id, from_state, to_state, reason, at, actor, payload
            FROM events WHERE seq > $1
            """
        if let bound {
            binds.add(bound)
            sql += " AND seq <= $\(binds.count)"
        }
        if let entityID {
            binds.add(entityID)
            sql += " AND entity_id = $\(binds.count)"
        }
        sql += " ORDER BY seq"
        if let limit {
            binds.add(Int64(max(0, limit)))
            sql += " LIMIT $\(binds.count)"
        }
        return (sql, binds)
    }

    static func decodeEvent(_ row: inout Cells) throws -> Event {
        Event(
            sequence: try row.int64(), entityKind: try row.enumeration(), entityID: try row.string(),
            fromState: try row.text(), toState: try row.text(), reason: try row.text(), at: try row.timestamp(),
            actor: try row.string(), payload: try row.object())
    }
}
