import ArgumentParser
import SluiceCore
import SluiceEngine

extension BudgetCommand {
    /// `sluice budget rate …`: the explicit rates through which spend in one currency counts against a
    /// budget in another.
    struct Rate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rate", abstract: "Record and list currency rates, the only way currencies meet.",
            discussion: """
                A budget has one currency. A cost or an estimate in another counts against it only through a \
                rate recorded here, with the day it was quoted on and its source. A rate is in force from the \
                moment it is recorded until a newer one for the same pair: a cost counts through the rate in \
                force when it was recorded (a cost recorded before any rate is never counted), rounded up to \
                the ninth decimal place, and a `budget` event says which rate. Rates are never changed or \
                removed; record a newer one.
                """,
            subcommands: [Set.self, List.self])

        struct Set: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Record a rate: 1 FROM is worth RATE TO, from now until a newer one.")
            @OptionGroup var global: GlobalOptions
            @Argument(help: "The ISO 4217 code converted from, such as EUR.") var from: String
            @Argument(help: "The ISO 4217 code converted to: a budget's currency, such as USD.") var to: String
            @Argument(help: "How many TO one FROM is worth, in plain decimal notation (above 0).") var rate: String
            @Option(help: "The day the rate was quoted on, YYYY-MM-DD.") var date: String
            @Option(help: "Where the rate comes from, such as 'ECB reference rate'.") var source: String

            func run() async throws {
                let from = try Currency(from)
                let to = try Currency(to)
                let rate = try Parse.amount(rate, option: "RATE")
                // Checked before the database is opened: bad input touches nothing.
                _ = try CurrencyRate(
                    from: from, to: to, rate: rate, quotedOn: date, source: source,
                    recordedAt: Timestamp(milliseconds: 0))
                let recorded = try await global.engine().budgets.setRate(
                    from: from, to: to, rate: rate, quotedOn: date, source: source)
                try Output(global).record(recorded, "recorded rate \(recorded.summary), in force from now")
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "List the currency rates on record; the newest of each pair is in force.")
            @OptionGroup var global: GlobalOptions

            func run() async throws {
                let rates = try await global.engine().budgets.rates()
                let newest = Dictionary(
                    rates.map { ("\($0.from)/\($0.to)", $0.recordedAt) }, uniquingKeysWith: { max($0, $1) })
                try Output(global).list(
                    rates, empty: "no currency rates",
                    columns: [
                        ("FROM", { $0.from.code }), ("TO", { $0.to.code }), ("RATE", { $0.rate.description }),
                        ("QUOTED", { $0.quotedOn }), ("SOURCE", { $0.source }),
                        ("RECORDED", { $0.recordedAt.description }),
                        ("IN-FORCE", { newest["\($0.from)/\($0.to)"] == $0.recordedAt ? "yes" : "no" }),
                    ])
            }
        }
    }
}
