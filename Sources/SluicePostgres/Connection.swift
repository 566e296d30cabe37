import Logging
import NIOCore
import PostgresNIO
import SluiceCore

/// One checked-out connection, driven synchronously from a pool thread: each statement is sent and
/// its result waited for before the next one.
package struct Connection {
    let connection: PostgresConnection
    let logger: Logger

    init(_ connection: PostgresConnection, logger: Logger? = nil) {
        self.connection = connection
        self.logger = logger ?? connection.logger
    }

    /// Runs one statement and returns its rows and row count.
    @discardableResult
    package func query(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws -> PostgresQueryResult {
        try send(sql, binds).wait()
    }

    /// Queues one statement without waiting for it. The connection sends its statements in the order
    /// they were queued, each once the one before has answered (postgres-nio does not pipeline), so a
    /// caller may queue several and wait for the last: they follow one another on the event loop,
    /// without waking the waiting thread between them, but each still costs a round trip to the
    /// server. Every future must still be waited for, or its error is lost.
    ///
    /// postgres-nio never answers a statement written to a connection that has already closed (the
    /// server ended the session, or it went away while idle): such a statement fails here, within
    /// about a second, instead of leaving its caller waiting for ever.
    func send(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) -> EventLoopFuture<PostgresQueryResult> {
        let connection = self.connection
        if connection.isClosed { return connection.eventLoop.makeFailedFuture(Connection.closed) }
        let answered = connection.eventLoop.makePromise(of: PostgresQueryResult.self)
        connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).cascade(to: answered)
        let watch = connection.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            if connection.isClosed { answered.fail(Connection.closed) }
        }
        answered.futureResult.whenComplete { _ in watch.cancel() }
        return answered.futureResult
    }

    /// A statement sent on a connection that has closed.
    static let closed = SluiceError(
        code: .storage,
        message: "the connection to the database closed before it answered (the server ended the session)")

    /// Runs one statement and returns how many rows it changed.
    package func execute(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws -> Int {
        try query(sql, binds).metadata.rows ?? 0
    }

    /// Runs `body` between `begin` and COMMIT; any throw rolls back and is rethrown.
    ///
    /// `lastStatements` are queued with the COMMIT (see ``send(_:_:)``): when one of them fails,
    /// PostgreSQL ends the transaction at the COMMIT with a rollback, and that statement's error is
    /// the one thrown.
    ///
    /// The first error is the one reported: when the ROLLBACK fails too, the connection is in a state
    /// nobody knows, so the error is wrapped in ``BrokenConnection`` and the pool closes it.
    func transaction<T>(
        _ begin: String, lastStatements: () -> [EventLoopFuture<PostgresQueryResult>] = { [] }, _ body: () throws -> T
    ) throws -> T {
        try query(begin)
        let result: T
        do {
            result = try body()
        } catch {
            try rollBack()
            throw error
        }
        do {
            try waitAll(lastStatements() + [send("COMMIT")])
        } catch {
            // A failed statement or COMMIT ends the transaction (PostgreSQL rolls it back); make sure of it.
            if (try? query("ROLLBACK")) == nil { throw BrokenConnection(error: error) }
            throw error
        }
        return result
    }

    /// Waits for statements queued together, in order; throws the first error after all have ended.
    func waitAll(_ statements: [EventLoopFuture<PostgresQueryResult>]) throws {
        var failure: (any Error)?
        for statement in statements {
            do {
                _ = try statement.wait()
            } catch {
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
    }

    private func rollBack() throws {
        do {
            try query("ROLLBACK")
        } catch {
            throw BrokenConnection(error: error)
        }
    }
}
