import Foundation

/// A `git` to put first on PATH: the first time it is asked to run `command`, it runs `action` (a
/// shell fragment, with the real git as `$REAL_GIT` and the arguments as `"$@"`) and exits as that
/// does; every other call goes straight to the real git. It marks the moment it fired with a file.
public struct InterferingGit: Sendable {
    /// The folder holding the wrapper: prepend it to PATH.
    public let bin: String
    /// Exists once the wrapper has fired.
    public let firedMarker: String

    /// - Parameter action: for example `kill -9 $PPID` to kill the caller before git runs, or
    ///   `$REAL_GIT "$@"; kill -9 $PPID` to kill it after.
    public init(in directory: TemporaryDirectory, firstTime command: String, action: String) throws {
        guard
            let real = ["/usr/bin/git", "/usr/local/bin/git", "/bin/git"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else { throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "git"]) }
        firedMarker = directory.file("fired")
        bin = directory.file("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let script = """
            #!/bin/sh
            REAL_GIT=\(real)
            if [ "$1" = "\(command)" ] && [ ! -e \(firedMarker) ]; then
                touch \(firedMarker)
                \(action)
            fi
            exec "$REAL_GIT" "$@"

            """
        let path = bin + "/git"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    /// Whether the wrapper has fired.
    public var fired: Bool { FileManager.default.fileExists(atPath: firedMarker) }

    /// PATH with the wrapper first.
    public var path: String { bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") }
}
