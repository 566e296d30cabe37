/// How soon a queued patch is taken: the pipeline takes the highest priority first, then the
/// oldest. Said at submission (`patch submit --priority`) and changed with `patch promote`.
public enum PatchPriority: String, CaseIterable, Codable, Comparable, Sendable {
    case low, normal, high, urgent

    /// Its place in the order: higher goes first.
    private var rank: Int {
        switch self {
        case .low: 0
        case .normal: 1
        case .high: 2
        case .urgent: 3
        }
    }

    public static func < (lhs: PatchPriority, rhs: PatchPriority) -> Bool { lhs.rank < rhs.rank }

}
