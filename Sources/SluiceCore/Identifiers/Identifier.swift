/// A marker type that names what an ``Identifier`` identifies.
public protocol IdentifierKind: Sendable {
    /// A short name used in error messages ("worker", "patch").
    static var noun: String { get }
}

/// A typed ULID: a `WorkerID` cannot be passed where a `GateID` is expected.
public struct Identifier<Kind: IdentifierKind>: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The underlying ULID.
    public let ulid: ULID

    /// Wraps a ULID.
    public init(_ ulid: ULID) {
        self.ulid = ulid
    }

    /// Parses a caller-supplied identifier.
    ///
    /// - Throws: ``SluiceError`` with code `invalidInput`, naming the kind of identifier.
    public init(parsing text: String) throws {
        do {
            self.ulid = try ULID(parsing: text)
        } catch let error as SluiceError {
            throw SluiceError.invalidInput("invalid \(Kind.noun) id: \(error.message)")
        }
    }

    /// A fresh identifier from the given generator.
    public static func make(_ generator: ULIDGenerator = .shared) -> Self {
        Self(generator.next())
    }

    public var description: String { ulid.description }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.ulid < rhs.ulid }

    public init(from decoder: any Decoder) throws {
        self.ulid = try ULID(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try ulid.encode(to: encoder)
    }
}

/// Identifies a worker.
public enum WorkerKind: IdentifierKind { public static let noun = "worker" }
/// Identifies a patch ledger entry.
public enum LedgerKind: IdentifierKind { public static let noun = "patch" }
/// Identifies a patch (stable across ledger entries that carry it).
public enum PatchKind: IdentifierKind { public static let noun = "patch" }
/// Identifies a test gate.
public enum GateKind: IdentifierKind { public static let noun = "gate" }
/// Identifies a cost record.
public enum CostKind: IdentifierKind { public static let noun = "cost" }
/// Identifies a task.
public enum TaskKind: IdentifierKind { public static let noun = "task" }
/// Identifies the execution request that a patch, gate or cost belongs to.
public enum ExecutionRequestKind: IdentifierKind { public static let noun = "execution request" }

/// A worker's identifier.
public typealias WorkerID = Identifier<WorkerKind>
/// A ledger entry's identifier.
public typealias LedgerID = Identifier<LedgerKind>
/// A patch's identifier.
public typealias PatchID = Identifier<PatchKind>
/// A test gate's identifier.
public typealias GateID = Identifier<GateKind>
/// A cost record's identifier.
public typealias CostID = Identifier<CostKind>
/// A task's identifier.
public typealias TaskID = Identifier<TaskKind>
/// An execution request's identifier.
public typealias ExecutionRequestID = Identifier<ExecutionRequestKind>
