import Logging
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
        try connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).wait()
    }

    /// Runs one statement and returns how many rows it changed.
    package func execute(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws -> Int {
        try query(sql, binds).metadata.rows ?? 0
    }

    /// Runs `body` between `begin` and COMMIT; any throw rolls back and is rethrown.
    ///
    /// The first error is the one reported: when the ROLLBACK fails too, the connection is in a state
    /// nobody knows, so the error is wrapped in ``BrokenConnection`` and the pool closes it.
    func transaction<T>(_ begin: String, _ body: () throws -> T) throws -> T {
        try query(begin)
        let result: T
        do {
            result = try body()
        } catch {
            do {
                try query("ROLLBACK")
            } catch {
                throw BrokenConnection(error: error)
            }
            throw error
        }
        do {
            try query("COMMIT")
        } catch {
            // A failed COMMIT ends the transaction (PostgreSQL rolls it back); make sure of it.
            if (try? query("ROLLBACK")) == nil { throw BrokenConnection(error: error) }
            throw error
        }
        return result
    }
}
