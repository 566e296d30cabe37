import Foundation
import SluiceCLI

exit(SluiceRunner.run(Array(CommandLine.arguments.dropFirst())))
