import Logging
import NIOPosix
import PostgresNIO
import SluiceCore
import SluiceStore
import Synchronization

extension PostgresStorage: SharedLocking {
    /// Takes a session-level advisory lock on a connection of its own, outside the pool: the lock
    /// lasts as long as that session, so a run killed on any host lets go of it when the server sees
    /// its connection close.
    public func tryLock(_ name: String) async throws -> (any HeldLock)? {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 0, logger: logger)
        } catch {
            throw PostgresStorage.translate(error, while: "connecting to take the lock \(name)")
        }
        do {
            let rows = try await connection.query(
                "SELECT pg_try_advisory_lock(hashtextextended(\(name), 0))", logger: logger)
            var taken = false
            for try await row in rows { taken = try row.decode(Bool.self) }
            guard taken else {
                try? await connection.close()
                return nil
            }
            return AdvisoryLock(connection: connection)
        } catch {
            try? await connection.close()
            throw PostgresStorage.translate(error, while: "taking the lock \(name)")
        }
    }
}

/// A held advisory lock: released by closing its session (when dropped unreleased, too).
final class AdvisoryLock: HeldLock {
    private let connection: PostgresConnection
    private let released = Atomic<Bool>(false)

    init(connection: PostgresConnection) {
        self.connection = connection
    }

    func release() async {
        guard !released.exchange(true, ordering: .relaxed) else { return }
        try? await connection.close()
    }

    deinit {
        guard !released.load(ordering: .relaxed) else { return }
        // postgres-nio requires a connection to be closed before it goes; it lives until it has.
        let connection = self.connection
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }
}
