import Foundation
import SluiceBench
import SluiceStore

// sluice-bench [--quick] [--only GROUP,...]: prints one JSON object per benchmark. Run it in
// release: swift run -c release sluice-bench. Groups: baseline, patches (patches-durable,
// patches-memory), workers, costs.
SQLiteStorage.tuneProcess()  // as the sluice tool does: the figures are the product's
let arguments = CommandLine.arguments.dropFirst()
let quick = arguments.contains("--quick")
var only: Set<String>?
if let index = arguments.firstIndex(of: "--only"), arguments.index(after: index) < arguments.endIndex {
    only = Set(arguments[arguments.index(after: index)].split(separator: ",").map(String.init))
    if let unknown = only?.subtracting(BenchmarkSuite.groups).first {
        FileHandle.standardError.write(Data("error: unknown benchmark group '\(unknown)'\n".utf8))
        exit(64)
    }
}
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
do {
    try await BenchmarkSuite(sizes: quick ? .quick : .full, directory: directory).run(only: only) { result in
        // Written straight to the file descriptor so each line appears as soon as it is measured.
        FileHandle.standardOutput.write(Data((result.jsonLine + "\n").utf8))
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    try? FileManager.default.removeItem(atPath: directory)
    exit(1)
}
