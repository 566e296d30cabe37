import SluiceCore
import Synchronization

/// A clock that tests move by hand.
public final class FakeClock: WallClock {
    private let current: Mutex<Timestamp>

    /// Starts at `start` (default 2026-01-01T00:00:00.000Z).
    public init(start: Timestamp = Timestamp(milliseconds: 1_767_225_600_000)) {
        self.current = Mutex(start)
    }

    public func now() -> Timestamp { current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(milliseconds: Int64) {
        current.withLock { $0 = $0.adding(milliseconds: milliseconds) }
    }

    /// Moves the clock forward by whole seconds.
    public func advance(seconds: Int64) { advance(milliseconds: seconds * 1000) }
}

/// A database clock (Unix seconds) that tests move by hand.
public final class FakeDatabaseClock: Sendable {
    private let current = Mutex<Double>(1_767_225_600)

    public init() {}

    /// The current value, for ``SQLiteStorage/Options/databaseClock``.
    public var read: @Sendable () -> Double { { [self] in current.withLock { $0 } } }

    /// Moves the database's clock forward.
    public func advance(seconds: Double) { current.withLock { $0 += seconds } }
}
