import Foundation
import SluiceCLI
import SluiceStore

// Process-wide SQLite settings belong to the host, not to the library.
SQLiteStorage.tuneProcess()
// A closed pipe on standard output must not kill a run mid-landing: writes then fail, and are dropped.
// Caught rather than ignored, so that the programs Sluice starts get the default back when they exec.
signal(SIGPIPE) { _ in }

exit(await SluiceRunner.run(Array(CommandLine.arguments.dropFirst())))
