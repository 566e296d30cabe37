import Foundation
import Subprocess

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// How a gate's command is sealed: with bubblewrap, the root file system read-only, a private `/tmp`,
/// its own PID namespace (every process of it dies with it), no capabilities, no network unless
/// allowed, and only `writable` writable; or not at all.
public struct ProcessSandbox: Hashable, Sendable {
    /// The bubblewrap executable; nil runs the command unsealed.
    public var bubblewrap: String?
    /// Directories the command may write (its workspace, its cache), shown at the same paths.
    public var writable: [String]
    /// Directories (made empty) and files (made empty) the command must not see: the ledger and the
    /// other workspaces.
    public var hidden: [String]
    /// Directories shown read-only again after `/tmp` is replaced, at the same paths: the repository's
    /// git directory, which a workspace's `.git` file points at, when it lives under `/tmp`.
    public var readOnly: [String]
    /// Files shown read-only even where they lie in what is hidden: an agent's own program.
    public var revealed: [String] = []
    /// Whether the command keeps the network.
    public var network: Bool

    /// No seal: the command runs as Sluice's child, in its own session.
    public static let unsealed = ProcessSandbox(bubblewrap: nil)

    /// Describes a seal; `bubblewrap` nil means none, whatever the other fields say.
    public init(
        bubblewrap: String?, writable: [String] = [], hidden: [String] = [], readOnly: [String] = [],
        network: Bool = false
    ) {
        self.bubblewrap = bubblewrap
        self.writable = writable
        self.hidden = hidden
        self.readOnly = readOnly
        self.network = network
    }

    /// Whether the command runs under bubblewrap.
    public var isSealed: Bool { bubblewrap != nil }

    /// The program and arguments that run `/bin/sh -c command` in `directory`, sealed or not.
    func launch(shell command: String, in directory: String) -> (program: String, arguments: [String]) {
        launch(["/bin/sh", "-c", command], in: directory)
    }

    /// The program and arguments that run `command` (a program, looked up on `PATH` by bubblewrap
    /// or the caller, and its arguments) in `directory`, sealed or not.
    func launch(_ command: [String], in directory: String) -> (program: String, arguments: [String]) {
        guard let bubblewrap else { return (command[0], Array(command.dropFirst())) }
        // In order: what is shown again read-only, then what is hidden (even inside it), then what
        // is writable (even inside what is hidden).
        var arguments = ProcessSandbox.sealFlags(network: network)
        let files = FileManager.default
        for path in readOnly where files.fileExists(atPath: path) { arguments += ["--ro-bind", path, path] }
        var hiddenDirectories: [String] = []
        for path in hidden {
            var isDirectory: ObjCBool = false
            guard files.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                arguments += ["--tmpfs", path]
                hiddenDirectories.append(path)
            } else if !hiddenDirectories.contains(where: { path.hasPrefix($0 + "/") }) {
                // A file in a directory already hidden is simply absent; elsewhere it reads empty.
                arguments += ["--ro-bind", "/dev/null", path]
            }
        }
        for path in writable { arguments += ["--bind", path, path] }
        for path in revealed where files.fileExists(atPath: path) { arguments += ["--ro-bind", path, path] }
        arguments += ["--chdir", directory, "--"] + command
        return (bubblewrap, arguments)
    }

    /// What every sealed command gets. `--die-with-parent` ties the namespace's init to bubblewrap,
    /// so killing bubblewrap's process group (a time limit, a recovered run) ends every process of it.
    /// As root, bubblewrap keeps every capability unless told: without `--cap-drop ALL` a gate could
    /// unmount what hides the ledger.
    static func sealFlags(network: Bool) -> [String] {
        var flags = [
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--unshare-pid",
            "--unshare-ipc", "--die-with-parent", "--cap-drop", "ALL",
        ]
        if !network { flags.append("--unshare-net") }
        return flags
    }

    // MARK: - Finding bubblewrap

    /// The bubblewrap to seal gates with: `SLUICE_BWRAP` when set (empty means none), else `bwrap` on
    /// `PATH`; it is kept only if it can seal `true` here (a container may forbid its namespaces).
    ///
    /// - Returns: the executable, or why there is none.
    public static func locateBubblewrap(environment: [String: String] = ProcessInfo.processInfo.environment) async
        -> Result<String, SandboxUnavailable>
    {
        let candidate: String
        if let configured = environment["SLUICE_BWRAP"] {
            guard !configured.isEmpty else { return .failure(SandboxUnavailable("SLUICE_BWRAP is empty")) }
            candidate = configured
        } else {
            let directories = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
            guard
                let found = directories.map({ ($0 as NSString).appendingPathComponent("bwrap") as String })
                    .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
            else { return .failure(SandboxUnavailable("bwrap (bubblewrap) is not installed")) }
            candidate = found
        }
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            return .failure(SandboxUnavailable("\(candidate) is not an executable"))
        }
        do {
            let probe = try await Subprocess.run(
                .path(FilePath(candidate)),
                arguments: Arguments(sealFlags(network: false) + ["--", "/bin/sh", "-c", "true"]),
                environment: .custom([:]), input: .none, output: .discarded, error: .string(limit: 2048))
            guard probe.terminationStatus.isSuccess else {
                let reason = probe.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
                return .failure(SandboxUnavailable("\(candidate) cannot seal a command here: \(reason)"))
            }
        } catch {
            return .failure(SandboxUnavailable("\(candidate) cannot be started: \(error)"))
        }
        return .success(candidate)
    }
}

/// Why gates cannot be sealed on this machine.
public struct SandboxUnavailable: Error, Hashable, Sendable, CustomStringConvertible {
    /// One sentence.
    public let reason: String
    /// Says why, in words that follow "gates are not sealed: ".
    public init(_ reason: String) { self.reason = reason }
    /// The reason.
    public var description: String { reason }
}
