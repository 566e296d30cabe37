/// What a cost was spent on.
public enum ResourceType: String, CaseIterable, Codable, Sendable {
    case apiCall = "api_call"
    case computeTime = "compute_time"
    case storage, network
    case toolUsage = "tool_usage"
    case custom
}

/// How a cost was computed: quantity × rate.
public struct CostUsage: Hashable, Sendable, Codable {
    public var quantity: ExactDecimal
    public var unit: String
    public var rate: ExactDecimal

    public init(quantity: ExactDecimal, unit: String, rate: ExactDecimal) {
        self.quantity = quantity
        self.unit = unit
        self.rate = rate
    }
}

/// A cost as stored and exported (`schema/cost_record.v1.json`).
public struct CostRecord: Hashable, Sendable, Codable {
    public var costID: CostID
    public var executionRequestID: ExecutionRequestID?
    public var projectID: String?
    public var resourceType: ResourceType
    public var resourceName: String?
    /// Exact and never negative; nil when the usage is unpriced (no price table entry covers it
    /// and the agent reported no cost): an unknown amount is never a zero one.
    public var amount: ExactDecimal?
    public var currency: Currency
    public var usage: CostUsage?
    public var recordedAt: Timestamp
    public var metadata: [String: JSONValue]

    /// Creates a record, checking the amount and, when given, that amount = quantity × rate.
    ///
    /// - Throws: ``SluiceError`` (`invalidInput`) for a negative amount or quantity or rate, an
    ///   amount that disagrees with its usage, or usage without an amount.
    public init(
        costID: CostID, executionRequestID: ExecutionRequestID? = nil, projectID: String? = nil,
        resourceType: ResourceType, resourceName: String? = nil, amount: ExactDecimal?, currency: Currency,
        usage: CostUsage? = nil, recordedAt: Timestamp, metadata: [String: JSONValue] = [:]
    ) throws {
        if let amount, amount.isNegative {
            throw SluiceError.invalidInput("amount must not be negative, got \(amount)")
        }
        if let usage {
            guard let amount else {
                throw SluiceError.invalidInput(
                    "an unpriced cost has no amount, so it cannot have a quantity and a rate")
            }
            guard !usage.quantity.isNegative, !usage.rate.isNegative else {
                throw SluiceError.invalidInput("usage quantity and rate must not be negative")
            }
            let product = try usage.quantity.multiplied(by: usage.rate)
            guard product == amount else {
                throw SluiceError.invalidInput(
                    "amount \(amount) is not quantity × rate (\(usage.quantity) × \(usage.rate) = \(product))")
            }
        }
        self.costID = costID
        self.executionRequestID = executionRequestID
        self.projectID = projectID
        self.resourceType = resourceType
        self.resourceName = resourceName
        self.amount = amount
        self.currency = currency
        self.usage = usage
        self.recordedAt = recordedAt
        self.metadata = metadata
    }

    /// The amount as money; nil when unpriced.
    public var money: Money? { amount.map { Money(amount: $0, currency: currency) } }

    /// Whether the record carries no amount: its usage has no price.
    public var isUnpriced: Bool { amount == nil }

    /// The amount, or zero for an unpriced record: for sums that count unpriced records apart.
    public var pricedUnits: Int64 { amount?.units ?? 0 }

    enum CodingKeys: String, CodingKey {
        case costID = "cost_id"
        case executionRequestID = "execution_request_id"
        case projectID = "project_id"
        case resourceType = "resource_type"
        case resourceName = "resource_name"
        case amount, currency, usage
        case recordedAt = "recorded_at"
        case metadata
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            costID: container.decode(CostID.self, forKey: .costID),
            executionRequestID: container.decodeIfPresent(ExecutionRequestID.self, forKey: .executionRequestID),
            projectID: container.decodeIfPresent(String.self, forKey: .projectID),
            resourceType: container.decode(ResourceType.self, forKey: .resourceType),
            resourceName: container.decodeIfPresent(String.self, forKey: .resourceName),
            // The key is required; null is an unpriced record.
            amount: container.decode(ExactDecimal?.self, forKey: .amount),
            currency: container.decode(Currency.self, forKey: .currency),
            usage: container.decodeIfPresent(CostUsage.self, forKey: .usage),
            recordedAt: container.decode(Timestamp.self, forKey: .recordedAt),
            metadata: container.decodeIfPresent([String: JSONValue].self, forKey: .metadata) ?? [:])
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(costID, forKey: .costID)
        try container.encode(executionRequestID, forKey: .executionRequestID)
        try container.encode(projectID, forKey: .projectID)
        try container.encode(resourceType, forKey: .resourceType)
        try container.encode(resourceName, forKey: .resourceName)
        try container.encode(amount, forKey: .amount)
        try container.encode(currency, forKey: .currency)
        try container.encode(usage, forKey: .usage)
        try container.encode(recordedAt, forKey: .recordedAt)
        try container.encode(metadata, forKey: .metadata)
    }
}

/// Which cost records a total, breakdown or list covers.
public struct CostFilter: Hashable, Sendable {
    public var executionRequestID: ExecutionRequestID?
    public var projectID: String?
    public var resourceType: ResourceType?
    public var currency: Currency?

    public init(
        executionRequestID: ExecutionRequestID? = nil, projectID: String? = nil, resourceType: ResourceType? = nil,
        currency: Currency? = nil
    ) {
        self.executionRequestID = executionRequestID
        self.projectID = projectID
        self.resourceType = resourceType
        self.currency = currency
    }
}

/// A total of one currency.
public struct CostTotal: Hashable, Sendable, Codable {
    public var currency: Currency
    public var amount: ExactDecimal
    public var count: Int

    public init(currency: Currency, amount: ExactDecimal, count: Int) {
        self.currency = currency
        self.amount = amount
        self.count = count
    }
}

/// A total of one currency for one resource type.
public struct CostBreakdownRow: Hashable, Sendable, Codable {
    public var resourceType: ResourceType
    public var currency: Currency
    public var amount: ExactDecimal
    public var count: Int

    public init(resourceType: ResourceType, currency: Currency, amount: ExactDecimal, count: Int) {
        self.resourceType = resourceType
        self.currency = currency
        self.amount = amount
        self.count = count
    }

    enum CodingKeys: String, CodingKey {
        case resourceType = "resource_type"
        case currency, amount, count
    }
}
