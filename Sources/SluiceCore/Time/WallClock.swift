import Foundation

/// Where the engine reads the current time. Injected everywhere so that tests control time.
public protocol WallClock: Sendable {
    /// The current instant.
    func now() -> Timestamp
}

/// The machine's real-time clock.
public struct SystemClock: WallClock {
    /// Creates the system clock.
    public init() {}

    public func now() -> Timestamp {
        Timestamp(milliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
    }
}
