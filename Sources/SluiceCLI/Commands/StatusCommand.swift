import ArgumentParser
import Foundation
import SluiceCore
import SluiceEngine

/// `sluice status`: the picture `sluice run --workers` shows live, once.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show tasks, patches and workers by state, and the spend so far.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let snapshot = try await global.engine().status()
        if global.json {
            Console.current.line(try SluiceJSON.line(snapshot))
        } else {
            Console.current.line(snapshot.line)
        }
    }
}
