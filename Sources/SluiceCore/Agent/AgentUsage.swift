/// Tokens one model spent for an agent, in Sluice's one convention, whatever the agent counts:
/// `inputTokens` are the input tokens read neither from nor into a cache, `cachedInputTokens` those
/// read from a cache, `cacheWriteTokens` those written into one, and `outputTokens` everything the
/// model produced, reasoning included. The four never overlap, so their sum is what was processed.
public struct AgentUsage: Hashable, Sendable {
    /// The model, when the agent names it.
    public var model: String?
    public var inputTokens: Int64
    public var cachedInputTokens: Int64
    public var cacheWriteTokens: Int64
    public var outputTokens: Int64
    /// What the agent itself said the calls cost, in US dollars: its own estimate, not a bill.
    public var reportedCostUSD: ExactDecimal?

    public init(
        model: String? = nil, inputTokens: Int64 = 0, cachedInputTokens: Int64 = 0, cacheWriteTokens: Int64 = 0,
        outputTokens: Int64 = 0, reportedCostUSD: ExactDecimal? = nil
    ) {
        self.model = model
        self.inputTokens = inputTokens
        self.cachedInputTokens = cachedInputTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.outputTokens = outputTokens
        self.reportedCostUSD = reportedCostUSD
    }

    /// Every token counted once.
    public var totalTokens: Int64 {
        inputTokens.addingSaturating(cachedInputTokens).addingSaturating(cacheWriteTokens)
            .addingSaturating(outputTokens)
    }

    /// This usage and `other`'s added; the costs add when both have one, else the one there is.
    public func adding(_ other: AgentUsage) -> AgentUsage {
        var sum = self
        sum.inputTokens = inputTokens.addingSaturating(other.inputTokens)
        sum.cachedInputTokens = cachedInputTokens.addingSaturating(other.cachedInputTokens)
        sum.cacheWriteTokens = cacheWriteTokens.addingSaturating(other.cacheWriteTokens)
        sum.outputTokens = outputTokens.addingSaturating(other.outputTokens)
        switch (reportedCostUSD, other.reportedCostUSD) {
        // Each is at most a million dollars: their sum fits.
        case (let mine?, let theirs?): sum.reportedCostUSD = (try? mine.adding(theirs)) ?? ExactDecimal(units: .max)
        case (nil, let theirs): sum.reportedCostUSD = theirs
        default: break
        }
        return sum
    }

    /// Usages merged per model (nil model is one group), in the order models first appear.
    public static func merged(_ usages: [AgentUsage]) -> [AgentUsage] {
        var order: [String?] = []
        var byModel: [String?: AgentUsage] = [:]
        for usage in usages {
            if let known = byModel[usage.model] {
                byModel[usage.model] = known.adding(usage)
            } else {
                order.append(usage.model)
                byModel[usage.model] = usage
            }
        }
        return order.compactMap { byModel[$0] }
    }
}

extension Int64 {
    /// The sum, held at `Int64.max` instead of trapping: an agent's report cannot crash the supervisor.
    func addingSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}

/// How an agent's run ended, as its adapter reads it.
public enum AgentOutcome: Hashable, Sendable {
    case success
    /// The agent reported a failure: `reason` is one line (max turns, budget exhausted, API error…).
    case failure(reason: String)
}

/// What an adapter read from an agent's output: the outcome and the tokens spent, per model.
public struct AgentReport: Hashable, Sendable {
    public var outcome: AgentOutcome
    public var usage: [AgentUsage]

    public init(outcome: AgentOutcome, usage: [AgentUsage] = []) {
        self.outcome = outcome
        self.usage = usage
    }
}
