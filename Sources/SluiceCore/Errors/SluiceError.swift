/// The one error type Sluice throws when an operation could not be carried out.
///
/// Outcomes such as a failed gate or a rejected patch are values, not errors.
public struct SluiceError: Error, Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure this is; stable, so callers and exit codes can depend on it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case notFound = "not_found"
            case invalidTransition = "invalid_transition"
            case lostRace = "lost_race"
            case invalidInput = "invalid_input"
            case conflict
            case blocked
            case storage
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// No entity has the given id.
        public static let notFound = Code(.notFound)
        /// The entity is in a state from which the operation is not allowed.
        public static let invalidTransition = Code(.invalidTransition)
        /// Another writer changed the entity between the read and the compare-and-set.
        public static let lostRace = Code(.lostRace)
        /// The caller's input is malformed or out of range.
        public static let invalidInput = Code(.invalidInput)
        /// The entity already exists, or another uniqueness rule was broken.
        public static let conflict = Code(.conflict)
        /// The operation cannot go on until something outside Sluice changes (a dirty working
        /// tree, another run holding the lock, a git command that failed).
        public static let blocked = Code(.blocked)
        /// The storage layer failed.
        public static let storage = Code(.storage)

        public var description: String { value.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// One sentence saying what failed and why; safe to show to users.
    public let message: String
    /// For `invalidTransition` and `lostRace`, the state the entity is in now.
    public let currentState: String?
    /// Detail that may hold patch bodies or other sensitive data; only in `debugDescription`.
    public let detail: String?

    /// Creates an error.
    public init(code: Code, message: String, currentState: String? = nil, detail: String? = nil) {
        self.code = code
        self.message = message
        self.currentState = currentState
        self.detail = detail
    }

    public var description: String { message }

    public var debugDescription: String {
        "SluiceError(\(code)): \(message)" + (detail.map { " [\($0)]" } ?? "")
    }

    /// The caller's input is invalid.
    public static func invalidInput(_ message: String) -> SluiceError {
        SluiceError(code: .invalidInput, message: message)
    }

    /// The largest list limit: a million (nil means no limit).
    public static let maxLimit = 1_000_000

    /// Refuses a negative list limit, or one past ``maxLimit`` (nil means no limit).
    public static func checkLimit(_ limit: Int?) throws {
        if let limit, limit < 0 { throw invalidInput("limit must be 0 or more, got \(limit)") }
        if let limit, limit > maxLimit {
            throw invalidInput("limit must be at most \(maxLimit), got \(limit); leave it out for no limit")
        }
    }

    /// No `noun` with the given id exists.
    public static func notFound(_ noun: String, _ id: String) -> SluiceError {
        SluiceError(code: .notFound, message: "no \(noun) with id \(id)")
    }

    /// The operation needs another state than the entity has.
    public static func invalidTransition(
        _ operation: String, _ noun: String, _ id: String, from current: String, to target: String? = nil,
        needs: [String] = []
    ) -> SluiceError {
        var message = "cannot \(operation) \(noun) \(id): it is \(current)"
        if let target {
            message += "; \(current) → \(target) is not allowed"
        } else if !needs.isEmpty {
            message += "; \(operation) needs " + needs.joined(separator: " or ")
        }
        return SluiceError(code: .invalidTransition, message: message, currentState: current)
    }
}
