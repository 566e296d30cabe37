import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SluiceCore
import Synchronization

/// PostgreSQL connections for units of work whose bodies are synchronous.
///
/// A unit of work runs on one of the pool's own threads (a `NIOThreadPool`, never the cooperative
/// thread pool, which must not block) and holds one connection from its BEGIN to its COMMIT or
/// ROLLBACK. Each statement is sent through postgres-nio's `EventLoopFuture` API and waited for on
/// that thread: the connection's event loop does the I/O, the unit's thread only blocks.
///
/// There are as many threads as connections, so a running unit never waits for a connection, and
/// at most `size` units run at once (the rest queue for a thread). Connections open on first use and
/// are kept; one that failed is closed and replaced by the next unit that needs it.
final class BlockingConnectionPool: Sendable {
    /// The most connections (and threads) the pool holds.
    let size: Int
    private let threads: NIOThreadPool
    private let eventLoopGroup: any EventLoopGroup
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let idle = Mutex<[PostgresConnection]>([])
    private let nextID = Atomic<Int>(1)

    init(configuration: PostgresConnection.Configuration, size: Int, logger: Logger) {
        self.size = max(1, size)
        self.configuration = configuration
        self.logger = logger
        self.eventLoopGroup = MultiThreadedEventLoopGroup.singleton
        self.threads = NIOThreadPool(numberOfThreads: self.size)
        threads.start()
    }

    /// Runs `body` on a pool thread with a connection of its own.
    ///
    /// The connection goes back to the pool afterwards unless it closed, or `body` reported it
    /// unusable by throwing ``BrokenConnection``.
    func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await threads.runIfActive { [self] in
            let connection = try checkOut()
            do {
                let result = try body(connection)
                checkIn(connection)
                return result
            } catch let broken as BrokenConnection {
                discard(connection)
                throw broken.error
            } catch {
                checkIn(connection)
                throw error
            }
        }
    }

    /// Closes the idle connections and stops the threads; units still queued fail.
    func shutdown() async {
        closeIdle()
        try? await threads.shutdownGracefully()
    }

    deinit {
        closeIdle()
        // The threads end on their own once shut down; nothing here waits for them.
        threads.shutdownGracefully { _ in }
    }

    private func closeIdle() {
        for connection in idle.withLock({ connections in
            defer { connections = [] }; return connections
        }) {
            Self.close(connection)
        }
    }

    private func checkOut() throws -> PostgresConnection {
        while let connection = idle.withLock({ $0.popLast() }) {
            if !connection.isClosed { return connection }
        }
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        return try PostgresConnection.connect(
            on: eventLoopGroup.next(), configuration: configuration, id: id, logger: logger
        ).wait()
    }

    private func checkIn(_ connection: PostgresConnection) {
        guard !connection.isClosed else { return }
        idle.withLock { $0.append(connection) }
    }

    private func discard(_ connection: PostgresConnection) {
        Self.close(connection)
    }

    /// Closes a connection without waiting; the connection lives until it has closed (postgres-nio
    /// requires it).
    private static func close(_ connection: PostgresConnection) {
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }
}

/// Thrown through ``BlockingConnectionPool/withConnection(_:)`` when a connection is left in an
/// unknown state (its ROLLBACK failed): the pool closes it, and the caller sees `error`.
struct BrokenConnection: Error {
    let error: any Error
}
