import Foundation

/// What a budget covers: all spend, or the spend of one project, workstream, task, worker or
/// execution request.
public enum BudgetScope: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    case global
    case project(String)
    case workstream(String)
    case task(TaskID)
    case worker(WorkerID)
    case request(ExecutionRequestID)

    /// The longest name a project or workstream scope may carry (as the task queue allows).
    public static let maxNameLength = 200

    /// Parses `global`, `project:NAME`, `workstream:NAME`, `task:ID`, `worker:ID` or `request:ID`.
    ///
    /// - Throws: `invalidInput` naming what is wrong.
    public init(parsing text: String) throws {
        if text == "global" {
            self = .global
            return
        }
        guard let colon = text.firstIndex(of: ":") else {
            throw SluiceError.invalidInput(
                "'\(text)' is not a budget scope: use global, project:NAME, workstream:NAME, task:ID, worker:ID "
                    + "or request:ID")
        }
        let kind = String(text[..<colon])
        let value = String(text[text.index(after: colon)...])
        switch kind {
        case "project", "workstream":
            guard !value.isEmpty, value.count <= Self.maxNameLength,
                !value.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) })
            else {
                throw SluiceError.invalidInput(
                    "a \(kind) scope needs a name of 1 to \(Self.maxNameLength) characters without control "
                        + "characters, got '\(text)'")
            }
            self = kind == "project" ? .project(value) : .workstream(value)
        case "task": self = .task(try TaskID(parsing: value))
        case "worker": self = .worker(try WorkerID(parsing: value))
        case "request": self = .request(try ExecutionRequestID(parsing: value))
        default:
            throw SluiceError.invalidInput(
                "'\(kind)' is not a kind of budget scope: use global, project, workstream, task, worker or request")
        }
    }

    public var description: String {
        switch self {
        case .global: "global"
        case .project(let name): "project:\(name)"
        case .workstream(let name): "workstream:\(name)"
        case .task(let id): "task:\(id)"
        case .worker(let id): "worker:\(id)"
        case .request(let id): "request:\(id)"
        }
    }

    public static func < (lhs: BudgetScope, rhs: BudgetScope) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        try self.init(parsing: decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Whether a cost record counts against this scope: by its project and execution request, and by
    /// the task, worker and workstream its metadata names (as the supervisor records them).
    public func covers(_ cost: CostRecord) -> Bool {
        switch self {
        case .global: true
        case .project(let name): cost.projectID == name
        case .workstream(let name): cost.metadata["workstream_id"] == .string(name)
        case .task(let id): cost.metadata["task_id"] == .string(id.description)
        case .worker(let id): cost.metadata["worker_id"] == .string(id.description)
        case .request(let id): cost.executionRequestID == id
        }
    }

    /// The scopes a task's work counts against when `worker` runs it.
    public static func scopes(of task: TaskRecord, worker: WorkerID) -> [BudgetScope] {
        var scopes: [BudgetScope] = [.global, .project(task.projectID)]
        if let workstream = task.workstreamID { scopes.append(.workstream(workstream)) }
        scopes += [.task(task.taskID), .worker(worker), .request(task.executionRequestID)]
        return scopes
    }
}

/// The period a budget's limit applies to. A window is a calendar period in the budget's time zone;
/// each has its own key, so a new window starts from nothing without any job zeroing a counter.
public enum BudgetWindow: String, CaseIterable, Codable, Sendable {
    case none, day, week, month

    /// The key of the window holding `time` in `timeZone`: `all`, `2026-11-28`, `2026-W48` (ISO weeks,
    /// starting Monday) or `2026-11`.
    public func key(at time: Timestamp, in timeZone: TimeZone) -> String {
        if self == .none { return "all" }
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = timeZone
        let date = Date(timeIntervalSince1970: Double(time.milliseconds) / 1000)
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        switch self {
        case .none: return "all"
        case .day:
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            return "\(pad(parts.year ?? 0, 4))-\(pad(parts.month ?? 0, 2))-\(pad(parts.day ?? 0, 2))"
        case .week:
            let parts = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
            return "\(pad(parts.yearForWeekOfYear ?? 0, 4))-W\(pad(parts.weekOfYear ?? 0, 2))"
        case .month:
            let parts = calendar.dateComponents([.year, .month], from: date)
            return "\(pad(parts.year ?? 0, 4))-\(pad(parts.month ?? 0, 2))"
        }
    }
}

/// A limit on spend in one currency over a scope and a window (`sluice budget set`).
///
/// A hard budget refuses work it cannot cover; any budget emits one event per soft threshold per
/// window as its committed spend crosses it.
public struct Budget: Hashable, Sendable, Codable {
    public var scope: BudgetScope
    /// Greater than zero.
    public var limit: ExactDecimal
    public var currency: Currency
    public var window: BudgetWindow
    /// An IANA time zone name (`UTC`, `Europe/Berlin`): where the window's days begin.
    public var timeZone: String
    /// Percentages of the limit, ascending, each from 1 to 100.
    public var soft: [Int]
    public var hard: Bool
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    /// - Throws: `invalidInput` for a limit that is not above zero, an unknown time zone, or a soft
    ///   threshold outside 1–100.
    public init(
        scope: BudgetScope, limit: ExactDecimal, currency: Currency = .usd, window: BudgetWindow = .none,
        timeZone: String = "UTC", soft: [Int] = [], hard: Bool = false, createdAt: Timestamp, updatedAt: Timestamp
    ) throws {
        guard limit.units > 0 else {
            throw SluiceError.invalidInput("a budget's limit must be above zero, got \(limit)")
        }
        guard timeZone == "UTC" || TimeZone.knownTimeZoneIdentifiers.contains(timeZone),
            TimeZone(identifier: timeZone) != nil
        else {
            throw SluiceError.invalidInput(
                "'\(timeZone)' is not a time zone: use an IANA name such as UTC or Europe/Berlin")
        }
        if let wrong = soft.first(where: { !(1...100).contains($0) }) {
            throw SluiceError.invalidInput("a soft threshold is a percentage from 1 to 100, got \(wrong)")
        }
        self.scope = scope
        self.limit = limit
        self.currency = currency
        self.window = window
        self.timeZone = timeZone
        self.soft = Array(Set(soft)).sorted()
        self.hard = hard
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The key of the window holding `time`.
    public func windowKey(at time: Timestamp) -> String {
        window.key(at: time, in: TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")!)
    }

    /// The soft thresholds `committed` has reached and `fired` (the highest fired so far) has not.
    public func thresholdsCrossed(committed: ExactDecimal, fired: Int) -> [Int] {
        soft.filter { percent in
            percent > fired && Int128(committed.units) * 100 >= Int128(limit.units) * Int128(percent)
        }
    }

    enum CodingKeys: String, CodingKey {
        case scope, limit, currency, window
        case timeZone = "timezone"
        case soft, hard
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            scope: container.decode(BudgetScope.self, forKey: .scope),
            limit: container.decode(ExactDecimal.self, forKey: .limit),
            currency: container.decode(Currency.self, forKey: .currency),
            window: container.decode(BudgetWindow.self, forKey: .window),
            timeZone: container.decode(String.self, forKey: .timeZone),
            soft: container.decode([Int].self, forKey: .soft), hard: container.decode(Bool.self, forKey: .hard),
            createdAt: container.decode(Timestamp.self, forKey: .createdAt),
            updatedAt: container.decode(Timestamp.self, forKey: .updatedAt))
    }
}

/// What one window of a budget has spent (committed) and holds for work in flight.
public struct BudgetSpend: Hashable, Sendable, Codable {
    public var scope: BudgetScope
    public var windowKey: String
    public var committed: ExactDecimal
    public var held: ExactDecimal
    /// The highest soft threshold fired in this window (0 for none).
    public var softFired: Int

    public init(scope: BudgetScope, windowKey: String, committed: ExactDecimal, held: ExactDecimal, softFired: Int) {
        self.scope = scope
        self.windowKey = windowKey
        self.committed = committed
        self.held = held
        self.softFired = softFired
    }

    /// `current` with `committed` and `held` added (either may be negative).
    ///
    /// - Throws: `storage` when a sum goes below zero or overflows: the ledger's sums are damaged, or
    ///   a caller released more than it held.
    public static func adding(_ current: BudgetSpend, committed: ExactDecimal, held: ExactDecimal) throws
        -> BudgetSpend
    {
        let (newCommitted, overflowC) = current.committed.units.addingReportingOverflow(committed.units)
        let (newHeld, overflowH) = current.held.units.addingReportingOverflow(held.units)
        guard !overflowC, !overflowH, newCommitted >= 0, newHeld >= 0 else {
            throw SluiceError(
                code: .storage,
                message: "budget \(current.scope), window \(current.windowKey): committed \(current.committed) + "
                    + "\(committed) and held \(current.held) + \(held) leave the range a budget's sums keep")
        }
        var next = current
        next.committed = ExactDecimal(units: newCommitted)
        next.held = ExactDecimal(units: newHeld)
        return next
    }

    enum CodingKeys: String, CodingKey {
        case scope
        case windowKey = "window"
        case committed, held
        case softFired = "soft_fired"
    }
}

/// One budget's share of a hold: the amount still held on one window.
public struct BudgetHoldPart: Hashable, Sendable, Codable {
    public var scope: BudgetScope
    public var windowKey: String
    public var amount: ExactDecimal

    public init(scope: BudgetScope, windowKey: String, amount: ExactDecimal) {
        self.scope = scope
        self.windowKey = windowKey
        self.amount = amount
    }

    enum CodingKeys: String, CodingKey {
        case scope
        case windowKey = "window"
        case amount
    }
}

/// An estimate held on every budget a task's attempt counts against, from its claim until the
/// attempt ends (done, failed, requeued, its lease fenced). Costs the attempt records use it up.
public struct BudgetHold: Hashable, Sendable, Codable {
    public var taskID: TaskID
    /// The claim's epoch: the hold lives as long as the claim.
    public var epoch: Int64
    public var workerID: WorkerID
    public var estimate: ExactDecimal
    public var currency: Currency
    public var parts: [BudgetHoldPart]
    public var createdAt: Timestamp

    public init(
        taskID: TaskID, epoch: Int64, workerID: WorkerID, estimate: ExactDecimal, currency: Currency,
        parts: [BudgetHoldPart], createdAt: Timestamp
    ) {
        self.taskID = taskID
        self.epoch = epoch
        self.workerID = workerID
        self.estimate = estimate
        self.currency = currency
        self.parts = parts
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id"
        case epoch
        case workerID = "worker_id"
        case estimate, currency, parts
        case createdAt = "created_at"
    }
}

/// What the gates of one patch may cost (the compute rate × their time limits), held on every budget
/// their costs count against while a run applies, gates and lands the patch. A run releases it when
/// the patch is done; one killed on the way leaves it until `expiresAt` (the gates cannot run longer),
/// after which the next hold of any kind releases it.
public struct GateHold: Hashable, Sendable, Codable {
    public var ledgerID: LedgerID
    public var estimate: ExactDecimal
    public var currency: Currency
    public var parts: [BudgetHoldPart]
    public var createdAt: Timestamp
    public var expiresAt: Timestamp

    public init(
        ledgerID: LedgerID, estimate: ExactDecimal, currency: Currency, parts: [BudgetHoldPart],
        createdAt: Timestamp, expiresAt: Timestamp
    ) {
        self.ledgerID = ledgerID
        self.estimate = estimate
        self.currency = currency
        self.parts = parts
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case ledgerID = "ledger_id"
        case estimate, currency, parts
        case createdAt = "created_at"
        case expiresAt = "expires_at"
    }
}

/// A task's estimate, as `sluice task add --estimate` records it in the task's metadata.
public struct CostEstimate: Hashable, Sendable {
    public static let metadataKey = "estimate"
    /// The largest estimate of one task, a million: the sums of thousands of holds stay exact.
    public static let maximum = ExactDecimal(units: 1_000_000 * ExactDecimal.unitsPerOne)

    public var amount: ExactDecimal
    public var currency: Currency

    public init(amount: ExactDecimal, currency: Currency) {
        self.amount = amount
        self.currency = currency
    }

    /// Parses `2.50` (US dollars) or `2.50 EUR`.
    ///
    /// - Throws: `invalidInput` for a negative or malformed amount, or a bad currency code.
    public init(parsing text: String) throws {
        let words = text.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count == 1 || words.count == 2 else {
            throw SluiceError.invalidInput("'\(text)' is not an estimate: give an amount, and a currency if not USD")
        }
        let amount = try ExactDecimal(parsing: String(words[0]))
        guard !amount.isNegative else {
            throw SluiceError.invalidInput("an estimate must not be negative, got \(amount)")
        }
        guard amount <= Self.maximum else {
            throw SluiceError.invalidInput("an estimate must be at most \(Self.maximum), got \(amount)")
        }
        self.amount = amount
        self.currency = words.count == 2 ? try Currency(String(words[1])) : .usd
    }

    /// The form kept in a task's metadata.
    public var json: JSONValue {
        .object(["amount": .string(amount.description), "currency": .string(currency.code)])
    }

    /// The estimate a task's metadata carries, if any.
    public init?(metadata: [String: JSONValue]) {
        guard case .object(let object)? = metadata[Self.metadataKey], case .string(let amount)? = object["amount"],
            case .string(let code)? = object["currency"], let parsed = try? ExactDecimal(parsing: amount),
            !parsed.isNegative, parsed <= Self.maximum, let currency = try? Currency(code)
        else { return nil }
        self.amount = parsed
        self.currency = currency
    }
}
