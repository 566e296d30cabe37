import Foundation
import SluiceTesting
import Testing

/// The binary works away from its build folder.
@Suite("Bad input is bounded: an installed binary")
struct InstalledBinaryTests {
    @Test("a binary copied away from the build folder runs init and commands (no resource bundle needed)")
    func installedBinary() async throws {
        let installed = TemporaryDirectory(prefix: "sluice-installed")
        let binary = installed.file("sluice")
        try FileManager.default.copyItem(atPath: CommandLineProcess.executable, toPath: binary)
        let build = (CommandLineProcess.executable as NSString).deletingLastPathComponent
        let database = installed.file("data/sluice.db")
        // The build folder is hidden from the copy (a private mount namespace), as on a machine without it.
        let script = """
            mount -t tmpfs tmpfs "$1" || exit 90
            [ -z "$(ls -A "$1")" ] || exit 91
            "$2" init --db "$3" || exit $?
            "$2" worker create --type executor --db "$3" || exit $?
            "$2" cost record --type api_call --amount 1 --db "$3"
            """
        let result = try await CommandLineProcess.runProgram(
            "/usr/bin/env", ["unshare", "-r", "-m", "sh", "-c", script, "sh", build, binary, database],
            directory: installed.path)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(!result.stderr.contains("resource bundle"))
        #expect(result.stdout.contains("created worker") && result.stdout.contains("recorded 1"))
    }
}
