import Foundation
import SluiceCLI

exit(await SluiceRunner.run(Array(CommandLine.arguments.dropFirst())))
