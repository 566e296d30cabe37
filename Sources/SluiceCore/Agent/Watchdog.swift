/// The limits a supervisor holds an agent to. Seconds; 0 turns a check off.
public struct WatchdogLimits: Hashable, Sendable {
    /// The longest an agent may run, paused time not counted.
    public var timeoutSeconds: Double
    /// The longest an agent may go with no output and no change in its workspace.
    public var stallSeconds: Double
    /// The longest an agent may spend tokens with no change in its workspace (where its adapter streams usage).
    public var burnSeconds: Double
    /// How many times the same line, or the same block of up to ``maxLoopPeriod`` lines, may repeat
    /// back to back before the agent counts as looping.
    public var loopRepeats: Int
    /// The most bytes of output an agent may print.
    public var maxOutputBytes: Int64

    /// The longest block of lines whose repetition counts as a loop.
    public static let maxLoopPeriod = 8

    /// The defaults are ``WorkerDefaults``' (an hour, 5 minutes without progress, 15 minutes of tokens
    /// without a change, 50 repeats), and 256 MiB of output.
    public init(
        timeoutSeconds: Double = WorkerDefaults().timeoutSeconds, stallSeconds: Double = WorkerDefaults().stallSeconds,
        burnSeconds: Double = WorkerDefaults().burnSeconds, loopRepeats: Int = WorkerDefaults().loopRepeats,
        maxOutputBytes: Int64 = 256 << 20
    ) {
        self.timeoutSeconds = timeoutSeconds
        self.stallSeconds = stallSeconds
        self.burnSeconds = burnSeconds
        self.loopRepeats = loopRepeats
        self.maxOutputBytes = maxOutputBytes
    }
}

/// Why the watchdog stops an agent; each is a failure reason of its own.
public enum WatchdogVerdict: Hashable, Sendable {
    case running
    case timedOut(seconds: Double)
    case stalled(seconds: Double)
    case looping(period: Int, line: String)
    case burning(seconds: Double, tokens: Int64)
    case outputLimit(bytes: Int64)

    /// One sentence for the task's failure reason.
    public var reason: String? {
        switch self {
        case .running: nil
        case .timedOut(let seconds): "timeout: the agent ran past \(Int(seconds)) s"
        case .stalled(let seconds):
            "stalled: no output and no change in the workspace for \(Int(seconds)) s"
        case .looping(let period, let line):
            "loop: the agent printed the same \(period == 1 ? "line" : "\(period) lines") over and over ("
                + (line.count > 120 ? String(line.prefix(120)) + "…" : line) + ")"
        case .burning(let seconds, let tokens):
            "burning tokens: \(tokens) tokens spent with no change in the workspace for \(Int(seconds)) s"
        case .outputLimit(let bytes): "output limit: the agent printed more than \(bytes) bytes"
        }
    }
}

/// Watches one agent: fed what it prints, when its workspace changes, the tokens it has spent and
/// when it is paused, it says whether the agent must be stopped and why. A value: the supervisor
/// feeds it, time is passed in (seconds on a monotonic clock), so every rule is tested without waiting.
public struct Watchdog: Sendable {
    public let limits: WatchdogLimits
    private let startedAt: Double
    /// Seconds spent paused, and since when it is paused now.
    private var pausedFor: Double = 0
    private var pausedSince: Double?
    private var lastOutput: Double
    private var lastChange: Double
    private var outputBytes: Int64 = 0
    private var tokens: Int64 = 0
    private var tokensAtChange: Int64 = 0
    /// For each period p, how many lines in a row equalled the line p before them.
    private var runs = [Int](repeating: 0, count: WatchdogLimits.maxLoopPeriod + 1)
    private var recent: [Int] = []
    private var recentText: [String] = []
    private var loop: (period: Int, line: String)?

    public init(limits: WatchdogLimits, startedAt: Double) {
        self.limits = limits
        self.startedAt = startedAt
        self.lastOutput = startedAt
        self.lastChange = startedAt
    }

    /// The agent printed `bytes` bytes.
    public mutating func output(bytes: Int, at now: Double) {
        guard bytes > 0 else { return }
        outputBytes += Int64(bytes)
        lastOutput = now
    }

    /// One whole line of output (blank lines do not count).
    public mutating func line(_ text: Substring) {
        guard loop == nil, limits.loopRepeats > 1,
            !text.allSatisfy({ $0.isWhitespace })
        else { return }
        let hash = text.hashValue
        let maxPeriod = WatchdogLimits.maxLoopPeriod
        for period in 1...maxPeriod {
            let before = recent.count - period
            if before >= 0, recent[before] == hash, recentText[before] == text {
                runs[period] += 1
                // The block of `period` lines, then `repeats - 1` copies of it.
                if runs[period] >= period * (limits.loopRepeats - 1) {
                    loop = (period, String(text))
                }
            } else {
                runs[period] = 0
            }
        }
        recent.append(hash)
        recentText.append(String(text))
        if recent.count > maxPeriod * 4 {
            recent.removeFirst(maxPeriod * 2)
            recentText.removeFirst(maxPeriod * 2)
        }
    }

    /// The workspace differs from when it was last looked at.
    public mutating func workspaceChanged(at now: Double) {
        lastChange = now
        tokensAtChange = tokens
    }

    /// The tokens the agent has spent so far, as its adapter counts them.
    public mutating func tokensSpent(_ total: Int64) { tokens = max(tokens, total) }

    /// The agent was paused (SIGSTOP) or resumed: paused time counts toward no limit.
    public mutating func paused(_ isPaused: Bool, at now: Double) {
        if isPaused, pausedSince == nil {
            pausedSince = now
        } else if !isPaused, let since = pausedSince {
            let span = now - since
            pausedFor += span
            lastOutput += span
            lastChange += span
            pausedSince = nil
        }
    }

    /// Whether the agent may go on, or why it must stop.
    public func verdict(at now: Double) -> WatchdogVerdict {
        if let loop { return .looping(period: loop.period, line: loop.line) }
        if outputBytes > limits.maxOutputBytes { return .outputLimit(bytes: limits.maxOutputBytes) }
        guard pausedSince == nil else { return .running }
        if limits.timeoutSeconds > 0, now - startedAt - pausedFor >= limits.timeoutSeconds {
            return .timedOut(seconds: limits.timeoutSeconds)
        }
        if limits.stallSeconds > 0, now - max(lastOutput, lastChange) >= limits.stallSeconds {
            return .stalled(seconds: limits.stallSeconds)
        }
        if limits.burnSeconds > 0, tokens > tokensAtChange, now - lastChange >= limits.burnSeconds {
            return .burning(seconds: limits.burnSeconds, tokens: tokens - tokensAtChange)
        }
        return .running
    }
}
