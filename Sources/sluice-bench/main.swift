import Foundation
import SluiceBench
import SluiceStore

// sluice-bench [--quick] [--only GROUP,...] [--db postgres://user@host:port/db]: prints one JSON
// object per benchmark. Run it in release: swift run -c release sluice-bench. Groups: baseline,
// patches (patches-durable, patches-memory), workers, costs, parsers, pipeline, postgres, follow,
// agents (task_claims, agent_start_latency, supervisor_overhead).
// The postgres and follow groups use the server --db names, or start a throwaway one.
SQLiteStorage.tuneProcess()  // as the sluice tool does: the figures are the product's
let arguments = CommandLine.arguments.dropFirst()
let usage = """
    usage: sluice-bench [--quick] [--only GROUP,...] [--db postgres://USER@HOST:PORT/DB]
    Prints one JSON object per benchmark. Build it in release first.
    Groups: \(BenchmarkSuite.groups.joined(separator: ", ")).

    """
if arguments.contains("--help") || arguments.contains("-h") {
    FileHandle.standardOutput.write(Data(usage.utf8))
    exit(0)
}
// Anything else is refused before a benchmark runs: a mistyped option must not start a long run.
var rest = arguments[...]
while let argument = rest.popFirst() {
    switch argument {
    case "--quick": continue
    case "--only", "--db": _ = rest.popFirst()
    default:
        FileHandle.standardError.write(Data("error: unknown argument '\(argument)'\n\(usage)".utf8))
        exit(64)
    }
}
let quick = arguments.contains("--quick")
func value(of option: String) -> String? {
    guard let index = arguments.firstIndex(of: option) else { return nil }
    guard arguments.index(after: index) < arguments.endIndex else {
        FileHandle.standardError.write(Data("error: \(option) needs a value\n".utf8))
        exit(64)
    }
    return arguments[arguments.index(after: index)]
}
var only: Set<String>?
if let groups = value(of: "--only") {
    only = Set(groups.split(separator: ",").map(String.init))
    if let unknown = only?.subtracting(BenchmarkSuite.groups).first {
        FileHandle.standardError.write(Data("error: unknown benchmark group '\(unknown)'\n".utf8))
        exit(64)
    }
}
let postgres: BenchmarkSuite.PostgresServer = value(of: "--db").map { .existing(url: $0) } ?? .throwaway
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
do {
    let suite = BenchmarkSuite(sizes: quick ? .quick : .full, directory: directory, postgres: postgres)
    try await suite.run(only: only) { result in
        // Written straight to the file descriptor so each line appears as soon as it is measured.
        FileHandle.standardOutput.write(Data((result.jsonLine + "\n").utf8))
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    try? FileManager.default.removeItem(atPath: directory)
    exit(1)
}
