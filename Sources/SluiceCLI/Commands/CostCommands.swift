import ArgumentParser
import SluiceCore
import SluiceEngine

/// `sluice cost …`: the CostTracker.
struct CostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cost", abstract: "Record costs exactly and total them per currency.",
        subcommands: [
            Record.self, Show.self, Total.self, Breakdown.self, Report.self, List.self, Delete.self, PriceQuery.self,
        ])

    /// Filters shared by total, breakdown and list.
    struct Filters: ParsableArguments {
        @Option(help: "Only this project.") var project: String?
        @Option(help: "Only this execution request (ULID).") var request: String?
        @Option(help: "Only this resource type.") var type: String?
        @Option(help: "Only this currency.") var currency: String?

        func filter() throws -> CostFilter {
            CostFilter(
                executionRequestID: try Parse.optionalID(request), projectID: project,
                resourceType: try Parse.optionalEnumeration(type, option: "--type"),
                currency: try currency.map { try Currency($0) })
        }
    }

    static func describe(_ cost: CostRecord) -> String {
        Output.fields([
            ("cost", cost.costID.description), ("type", cost.resourceType.rawValue), ("resource", cost.resourceName),
            ("amount", cost.money?.description ?? "unpriced (no price covers this usage; its cost is unknown)"),
            ("project", cost.projectID),
            ("request", cost.executionRequestID?.description),
            ("usage", cost.usage.map { "\($0.quantity) \($0.unit) × \($0.rate)" }),
            ("recorded", cost.recordedAt.description),
        ])
    }

    struct Record: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a cost; without --amount, amount = quantity × rate, exactly.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "api_call, compute_time, storage, network, tool_usage or custom.") var type: String
        @Option(parsing: .unconditional, help: "The amount, in plain decimal notation (≥ 0).") var amount: String?
        @Option(help: "ISO 4217 code.") var currency: String = "USD"
        @Option(help: "The project.") var project: String?
        @Option(help: "The execution request (ULID).") var request: String?
        @Option(help: "What was used, such as a model name.") var resource: String?
        @Option(parsing: .unconditional, help: "How much was used.") var quantity: String?
        @Option(help: "The unit of the quantity (tokens, seconds).") var unit: String?
        @Option(parsing: .unconditional, help: "The price per unit.") var rate: String?
        @Option(help: "A JSON object: model, tokens_input, tokens_output, duration_seconds, …") var metadata: String?

        func validate() throws {
            if (quantity == nil) != (rate == nil) { throw ValidationError("--quantity and --rate go together") }
            if amount == nil && quantity == nil { throw ValidationError("give --amount, or --quantity and --rate") }
        }

        func run() async throws {
            let type: ResourceType = try Parse.enumeration(type, option: "--type")
            let currency = try Currency(currency)
            let amount = try amount.map { try Parse.amount($0, option: "--amount") }
            var usage: CostUsage?
            if let quantity, let rate {
                usage = CostUsage(
                    quantity: try Parse.amount(quantity, option: "--quantity"), unit: unit ?? "unit",
                    rate: try Parse.amount(rate, option: "--rate"))
            }
            let request: ExecutionRequestID? = try Parse.optionalID(request)
            let metadata = try Parse.object(metadata, option: "--metadata")
            let cost = try await global.engine().costs.record(
                type: type, amount: amount, currency: currency, project: project, request: request,
                resourceName: resource, usage: usage, metadata: metadata)
            try Output(global).record(
                cost,
                "recorded \(cost.money?.description ?? "unpriced") (\(cost.resourceType.rawValue)) as \(cost.costID)")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one cost record.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The cost record's id.") var id: String

        func run() async throws {
            let cost = try await global.engine().costs.get(try Parse.id(id))
            try Output(global).record(cost, CostCommand.describe(cost))
        }
    }

    struct Total: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Exact totals, one per currency.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var filters: Filters

        func run() async throws {
            let engine = try await global.engine()
            let filter = try filters.filter()
            let unpriced = try await engine.costs.unpriced(filter)
            let totals = try await engine.costs.total(filter).map {
                Line(total: $0, unpriced: unpriced.map { [total = $0] in $0[total.currency] ?? 0 })
            }
            try Output(global).list(
                totals, empty: "total: 0 (no cost records)",
                columns: [
                    ("CURRENCY", { $0.total.currency.code }), ("TOTAL", { $0.total.amount.description }),
                    ("RECORDS", { String($0.total.count) }),
                ])
            // RECORDS counts them too; their spend is unknown, never zero.
            let count = unpriced?.values.reduce(0, +) ?? 0
            if count > 0, !global.json {
                Console.current.line(
                    "of which \(count) unpriced: no price covers their usage, so their cost is unknown and not in TOTAL"
                )
            }
        }

        /// One currency's total; `unpriced` (left out when the running sums cannot tell for this
        /// filter) counts the records of `count` whose cost is unknown.
        struct Line: Encodable {
            let total: CostTotal
            let unpriced: Int?

            func encode(to encoder: any Encoder) throws {
                try total.encode(to: encoder)
                var container = encoder.container(keyedBy: Key.self)
                try container.encodeIfPresent(unpriced, forKey: .unpriced)
            }

            enum Key: String, CodingKey { case unpriced }
        }
    }

    struct Breakdown: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Exact totals per resource type and currency.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var filters: Filters

        func run() async throws {
            let rows = try await global.engine().costs.breakdown(try filters.filter())
            try Output(global).list(
                rows, empty: "no cost records",
                columns: [
                    ("TYPE", { $0.resourceType.rawValue }), ("CURRENCY", { $0.currency.code }),
                    ("TOTAL", { $0.amount.description }), ("RECORDS", { String($0.count) }),
                ])
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Spend grouped by project, workstream, task, worker, model, resource type or outcome.",
            discussion: """
                Exact per currency, with the records that carry no amount (the agent named no model the \
                price table knows, and reported no cost) counted apart as UNPRICED: their spend is unknown, \
                not zero. DISAGREE counts priced records whose agent reported a cost of its own more than \
                5% (and more than 0.0001) away from the price, and REPORTED-PRICED sums how far. \
                --since and --until \
                are UTC days: from --since, up to but not including --until. --by model groups by the \
                record's resource name (a model for agents' api_call costs, gate:NAME for gates' time). \
                --by outcome follows each cost to its task and patch: landed, quarantined, rejected, \
                rolled_back, nothing (a task that failed, was cancelled or ended without a patch), \
                in_flight, or unattributed; then the cost per landed patch and the share wasted.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "project, workstream, task, worker, model, resource_type or outcome.") var by = "project"
        @Option(help: "The first UTC day counted (YYYY-MM-DD).") var since: String?
        @Option(help: "The UTC day the report stops before (YYYY-MM-DD).") var until: String?
        @Option(help: "table, json (JSON Lines, as --json) or csv.") var format = "table"

        struct Line: Encodable {
            let by: String
            let key: String?
            let currency: Currency
            let amount: ExactDecimal
            let records: Int
            let unpriced: Int
            let disagreeing: Int
            let reportedDifference: ExactDecimal

            enum CodingKeys: String, CodingKey {
                case by, key, currency, amount, records, unpriced, disagreeing
                case reportedDifference = "reported_difference"
            }
        }

        struct Summary: Encodable {
            let summary: CostReport.OutcomeSummary
        }

        func run() async throws {
            let dimension: CostReportDimension = try Parse.enumeration(by, option: "--by")
            guard ["table", "json", "csv"].contains(format) else {
                throw SluiceError.invalidInput("--format must be table, json or csv, got '\(format)'")
            }
            let range = try CostReportRange(since: since, until: until)
            let report = try await global.engine().costs.report(by: dimension, range)
            let lines = report.rows.map {
                Line(
                    by: dimension.rawValue, key: $0.key, currency: $0.currency, amount: $0.amount,
                    records: $0.records, unpriced: $0.unpriced, disagreeing: $0.disagreeing,
                    reportedDifference: $0.reportedDifference)
            }
            if global.json || format == "json" {
                for line in lines { Console.current.line(try SluiceJSON.line(line)) }
                for summary in report.outcomes { Console.current.line(try SluiceJSON.line(Summary(summary: summary))) }
                return
            }
            if format == "csv" {
                Console.current.line(
                    "\(dimension.rawValue),currency,amount,records,unpriced,disagreeing,reported_difference")
                for line in lines {
                    Console.current.line(
                        [
                            Self.csv(line.key ?? ""), line.currency.code, line.amount.description, String(line.records),
                            String(line.unpriced), String(line.disagreeing), line.reportedDifference.description,
                        ].joined(separator: ","))
                }
                return
            }
            try Output(global).list(
                lines, empty: "no cost records",
                columns: [
                    (dimension.rawValue.uppercased(), { $0.key ?? "-" }), ("CURRENCY", { $0.currency.code }),
                    ("AMOUNT", { $0.amount.description }), ("RECORDS", { String($0.records) }),
                    ("UNPRICED", { String($0.unpriced) }), ("DISAGREE", { String($0.disagreeing) }),
                    ("REPORTED-PRICED", { $0.disagreeing == 0 ? "-" : $0.reportedDifference.description }),
                ])
            for summary in report.outcomes {
                Console.current.line(
                    "\(summary.currency): \(summary.total) in all; "
                        + (summary.costPerLandedPatch.map {
                            "\($0) per landed patch (\(summary.landedPatches) landed)"
                        } ?? "no patch landed")
                        + "; \(summary.wasted) (\(summary.wastedPercent)%) on work that did not land")
            }
        }

        /// A CSV field: quoted when it holds a comma, a quote or a line break.
        static func csv(_ text: String) -> String {
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List cost records, newest first.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var filters: Filters
        @Option(help: "At most this many.") var limit: Int?

        func run() async throws {
            let costs = try await global.engine().costs.list(try filters.filter(), limit: limit)
            try Output(global).list(
                costs, empty: "no cost records",
                columns: [
                    ("COST", { $0.costID.description }), ("TYPE", { $0.resourceType.rawValue }),
                    ("AMOUNT", { $0.money?.description ?? "unpriced" }), ("PROJECT", { $0.projectID ?? "-" }),
                    ("RECORDED", { $0.recordedAt.description }),
                ])
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a cost record (the event log keeps what was deleted).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The cost record's id.") var id: String

        func run() async throws {
            let cost = try await global.engine().costs.delete(try Parse.id(id))
            try Output(global).record(cost, "deleted cost \(cost.costID) (\(cost.money?.description ?? "unpriced"))")
        }
    }
}
