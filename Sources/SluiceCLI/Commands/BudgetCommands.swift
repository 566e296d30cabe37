import ArgumentParser
import SluiceCore
import SluiceEngine

/// `sluice budget …`: limits on spend, held before work starts.
struct BudgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budget", abstract: "Set, list, show and remove budgets: limits on spend checked before work.",
        discussion: """
            A budget limits spend in one currency over a scope (global, project:NAME, workstream:NAME, task:ID, \
            worker:ID, request:ID) and a window (none, day, week, month, in its time zone). Before a worker \
            starts a task, the task's estimate (task add --estimate, else claude's --max-budget-usd on the \
            worker's command line, else workers.default_estimate in sluice.yml, else 0) is held on every \
            budget the task counts against, all or none; a --hard budget whose committed + held + estimate \
            would pass its limit refuses, the task stays queued with the reason, and the claim takes the \
            next task that fits. Costs count as they are recorded, in full even past the hold; unpriced \
            usage (no amount) counts what its claim still holds. Without --hard a budget only warns: one \
            event per --soft threshold per window. Spend in another currency counts only through a rate \
            recorded with `budget rate set`.
            """,
        subcommands: [Set.self, List.self, Show.self, Remove.self, Rate.self])

    /// A budget and its current window, as the commands print it.
    struct View: Encodable {
        let budget: Budget
        let window: String
        let committed: ExactDecimal
        let held: ExactDecimal
        let remaining: ExactDecimal

        init(_ status: BudgetStatus) {
            budget = status.budget
            window = status.window
            committed = status.committed
            held = status.held
            remaining = status.remaining
        }

        enum CodingKeys: String, CodingKey {
            case scope, limit, currency, window, timezone, soft, hard
            case currentWindow = "current_window"
            case committed, held, remaining
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(budget.scope, forKey: .scope)
            try container.encode(budget.limit, forKey: .limit)
            try container.encode(budget.currency, forKey: .currency)
            try container.encode(budget.window, forKey: .window)
            try container.encode(budget.timeZone, forKey: .timezone)
            try container.encode(budget.soft, forKey: .soft)
            try container.encode(budget.hard, forKey: .hard)
            try container.encode(window, forKey: .currentWindow)
            try container.encode(committed, forKey: .committed)
            try container.encode(held, forKey: .held)
            try container.encode(remaining, forKey: .remaining)
            try container.encode(budget.createdAt, forKey: .createdAt)
            try container.encode(budget.updatedAt, forKey: .updatedAt)
        }

        var kind: String { budget.hard ? "hard" : "soft" }
        var period: String {
            budget.window == .none ? "in all" : "per \(budget.window.rawValue) (\(budget.timeZone)), window \(window)"
        }
        var sentence: String {
            "\(kind) budget \(budget.scope): \(budget.limit) \(budget.currency) \(period); \(committed) committed, "
                + "\(held) held, \(remaining) left"
                + (budget.soft.isEmpty ? "" : "; warns at \(budget.soft.map { "\($0)%" }.joined(separator: ", "))")
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the budget of a scope (replacing its limit and options; its spend carries on).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "global, project:NAME, workstream:NAME, task:ID, worker:ID or request:ID.") var scope: String
        // All that is left over, so that a negative limit (`-1`) reaches the check that says why it is refused
        // instead of being taken for an option.
        @Argument(parsing: .allUnrecognized, help: "The limit, in plain decimal notation (above 0).")
        var limit: [String] = []
        @Option(help: "ISO 4217 code.") var currency: String = "USD"
        @Option(help: "none, day, week (ISO, from Monday) or month.") var window: String = "none"
        @Option(help: "The IANA time zone the window's days begin in.") var timezone: String = "UTC"
        @Option(help: "Percentages of the limit that emit one event each per window, such as 50,80.")
        var soft: String?
        @Flag(help: "Refuse work the budget cannot cover; without it, the budget only warns.") var hard = false

        func run() async throws {
            guard self.limit.count == 1, let text = self.limit.first else {
                throw ValidationError(
                    self.limit.isEmpty
                        ? "give the budget's LIMIT, such as 25 or 0.50"
                        : "unexpected \(self.limit.dropFirst().map { "'\($0)'" }.joined(separator: ", ")) after the LIMIT"
                )
            }
            let scope = try BudgetScope(parsing: scope)
            let limit = try Parse.amount(text, option: "LIMIT")
            let window: BudgetWindow = try Parse.enumeration(window, option: "--window")
            let thresholds = try soft.map(BudgetCommand.thresholds) ?? []
            let engine = try await global.engine()
            let budget = try await engine.budgets.set(
                scope, limit: limit, currency: try Currency(currency), window: window, timeZone: timezone,
                soft: thresholds, hard: hard)
            let (status, _) = try await engine.budgets.show(budget.scope)
            let view = View(status)
            try Output(global).record(view, "set " + view.sentence)
        }
    }

    /// `50,80` as percentages.
    static func thresholds(_ text: String) throws -> [Int] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            guard let percent = Int(trimmed), (1...100).contains(percent) else {
                throw SluiceError.invalidInput(
                    "--soft takes percentages from 1 to 100 separated by commas, such as 50,80; got '\(text)'")
            }
            return percent
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List budgets with their current window's spend.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let views = try await global.engine().budgets.list().map(View.init)
            try Output(global).list(
                views, empty: "no budgets",
                columns: [
                    ("SCOPE", { $0.budget.scope.description }), ("KIND", { $0.kind }),
                    ("LIMIT", { "\($0.budget.limit) \($0.budget.currency)" }), ("WINDOW", { $0.window }),
                    ("COMMITTED", { $0.committed.description }), ("HELD", { $0.held.description }),
                    ("LEFT", { $0.remaining.description }),
                ])
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one budget, its current window, and the spend of every window on record.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The budget's scope.") var scope: String

        struct Shown: Encodable {
            let budget: View
            let windows: [BudgetSpend]
        }

        func run() async throws {
            let (status, windows) = try await global.engine().budgets.show(try BudgetScope(parsing: scope))
            let view = View(status)
            let lines =
                [view.sentence]
                + windows.map { "  window \($0.windowKey): \($0.committed) committed, \($0.held) held" }
            try Output(global).record(Shown(budget: view, windows: windows), lines.joined(separator: "\n"))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a budget (its windows' spend and the event log keep what it was).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The budget's scope.") var scope: String

        func run() async throws {
            let budget = try await global.engine().budgets.remove(try BudgetScope(parsing: scope))
            try Output(global).record(budget, "removed budget \(budget.scope) (\(budget.limit) \(budget.currency))")
        }
    }
}
