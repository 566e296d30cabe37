import Foundation
import SluiceCLI
import SluiceStore

// Process-wide SQLite settings belong to the host, not to the library.
SQLiteStorage.tuneProcess()

exit(await SluiceRunner.run(Array(CommandLine.arguments.dropFirst())))
