import Foundation
import SluiceCLI
import SluiceTesting
import Testing

/// `sluice cost price` and `sluice prices`: the table a user can read, extend and check.
@Suite("Price commands")
struct PriceCommandTests {
    @Test("cost price prints the amount and the entry; an unknown model is unpriced, exit 1, with no error noise")
    func price() async throws {
        let cli = CLIHarness()
        let text = await cli.run([
            "cost", "price", "--model", "claude-sonnet-4-5-20250929", "--input", "1000", "--output", "500",
            "--cached-input", "20000", "--cache-write", "3000", "--at", "2026-01-01",
        ])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.hasPrefix("0.02775 USD by anthropic/claude-sonnet-4-5@2025-09-29 (default table)"))
        let json = await cli.run(["cost", "price", "--model", "claude-sonnet-4-5", "--input", "250000", "--json"])
        let object = try json.object()
        #expect(object["amount"] as? String == "1.5")
        #expect(object["tier"] as? Int == 200_000)
        let unknown = await cli.run(["cost", "price", "--model", "gpt-9", "--input", "5", "--json"])
        #expect(unknown.status == 1)
        #expect(
            try unknown.object()["unpriced"] as? String
                == "no price for model gpt-9 on \(String(Date().description.prefix(10)))")
        #expect(unknown.stderr.isEmpty, "\(unknown.stderr)")
        let negative = await cli.run(["cost", "price", "--model", "gpt-5", "--input=-3"])
        #expect(negative.status == 64 && negative.stderr.contains("--input must be 0 or more"))
    }

    @Test("prices import writes the project's table, which then wins; a bad file changes nothing")
    func importLiteLLM() async throws {
        let cli = CLIHarness()
        let file = cli.directory.file("litellm.json")
        try """
        {"claude-sonnet-4-5": {"litellm_provider": "anthropic", "input_cost_per_token": 2e-06, "output_cost_per_token": 1e-05},
         "an-image-model": {"input_cost_per_pixel": 1e-08}}
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let imported = await cli.run(["prices", "import", file, "--effective-from", "2026-11-01", "--json"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let summary = try imported.object()
        #expect(summary["imported"] as? Int == 1)
        #expect((summary["left_out"] as? [[String: Any]])?.first?["model"] as? String == "an-image-model")
        let table = cli.directory.file(".sluice/prices.yml")
        let written = try String(contentsOfFile: table, encoding: .utf8)
        let priced = await cli.run([
            "cost", "price", "--model", "claude-sonnet-4-5", "--input", "1000000", "--at", "2026-11-02", "--json",
        ])
        #expect(try priced.object()["amount"] as? String == "2")
        #expect(try priced.object()["entry"] as? String == "anthropic/claude-sonnet-4-5@2026-11-01")
        // Before its date, the default table's price still applies.
        let before = await cli.run([
            "cost", "price", "--model", "claude-sonnet-4-5", "--input", "100000", "--at", "2026-10-31", "--json",
        ])
        #expect(try before.object()["amount"] as? String == "0.3")
        try "not json".write(toFile: file, atomically: true, encoding: .utf8)
        let bad = await cli.run(["prices", "import", file])
        #expect(bad.status == 64 && bad.stderr.contains("invalid JSON"))
        #expect(try String(contentsOfFile: table, encoding: .utf8) == written)
        let listed = await cli.run(["prices", "list", "--at", "2026-11-02"])
        #expect(
            listed.stdout.contains("anthropic/claude-sonnet-4-5@2026-11-01")
                && listed.stdout.contains(".sluice/prices.yml"))
    }
}
