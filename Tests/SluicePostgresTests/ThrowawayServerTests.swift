import Foundation
import SluiceTesting
import Testing

@testable import SluicePostgres

@Suite("The throwaway test server's programs")
struct ThrowawayServerTests {
    @Test("a program it runs (pg_ctl, and the server it leaves running) holds none of this process's descriptors")
    func programsInheritNoDescriptors() throws {
        // Foundation opens pipes without close-on-exec, as it does for every `Process` a test runs.
        let pipe = Pipe()
        let held = pipe.fileHandleForWriting.fileDescriptor
        let directory = TemporaryDirectory(prefix: "sluice-spawn")
        let output = directory.file("fds")
        let status = try ThrowawayPostgresServer.spawnAndWait(
            ["/bin/sh", "-c", "ls /proc/$$/fd"], output: output)
        #expect(status == 0)
        let open = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(held > 2)
        #expect(Set(open) == [0, 1, 2], "the child had \(open) open; the test process holds \(held)")
        try pipe.fileHandleForWriting.close()
    }
}
