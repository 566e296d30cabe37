/// Which component an event belongs to.
public enum EntityKind: String, CaseIterable, Codable, Sendable {
    case worker, patch, gate, cost, task, budget
}

/// One entry of the append-only event log: every transition of every component, and every
/// deletion, with what was deleted in its payload.
public struct Event: Hashable, Sendable, Codable {
    /// Position in the log, assigned by the store; 0 before it is stored.
    public var sequence: Int64
    public var entityKind: EntityKind
    public var entityID: String
    /// Nil for a creation.
    public var fromState: String?
    /// Nil for a deletion or an event that does not change state (a heartbeat).
    public var toState: String?
    public var reason: String?
    public var at: Timestamp
    public var actor: String
    public var payload: [String: JSONValue]

    public init(
        sequence: Int64 = 0, entityKind: EntityKind, entityID: String, fromState: String?, toState: String?,
        reason: String?, at: Timestamp, actor: String, payload: [String: JSONValue] = [:]
    ) {
        self.sequence = sequence
        self.entityKind = entityKind
        self.entityID = entityID
        self.fromState = fromState
        self.toState = toState
        self.reason = reason
        self.at = at
        self.actor = actor
        self.payload = payload
    }

    enum CodingKeys: String, CodingKey {
        case sequence
        case entityKind = "entity_kind"
        case entityID = "entity_id"
        case fromState = "from_state"
        case toState = "to_state"
        case reason, at, actor, payload
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(entityKind, forKey: .entityKind)
        try container.encode(entityID, forKey: .entityID)
        try container.encode(fromState, forKey: .fromState)
        try container.encode(toState, forKey: .toState)
        try container.encode(reason, forKey: .reason)
        try container.encode(at, forKey: .at)
        try container.encode(actor, forKey: .actor)
        try container.encode(payload, forKey: .payload)
    }
}
