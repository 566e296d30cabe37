/// What a gate checks.
public enum GateType: String, CaseIterable, Codable, Sendable {
    case unitTests = "unit_tests"
    case integrationTests = "integration_tests"
    case e2eTests = "e2e_tests"
    case securityScan = "security_scan"
    case lint, custom
}

/// The six states of a gate. `passed`, `failed`, `skipped` and `error` are terminal.
public enum GateState: String, CaseIterable, Codable, Sendable {
    case pending, running, passed, failed, skipped, error

    /// Whether no transition leaves this state.
    public var isTerminal: Bool { self != .pending && self != .running }

    /// The transition table of DESIGN.md.
    public func canTransition(to target: GateState) -> Bool {
        switch (self, target) {
        case (.pending, .running): true
        case (.running, .passed), (.running, .failed), (.running, .error): true
        case (.pending, .skipped), (.running, .skipped): true
        default: false
        }
    }
}
