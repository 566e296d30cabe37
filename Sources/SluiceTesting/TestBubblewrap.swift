import Foundation

/// Whether this machine has bubblewrap, for the tests of sealed gates: they are skipped, with the
/// reason shown, only where `bwrap` is not installed at all. Installed but unable to seal is a failure.
public enum TestBubblewrap {
    /// `bwrap` is an executable on `PATH`.
    public static let isInstalled: Bool = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/bwrap") }
    }()

    /// Shown for each skipped test.
    public static let skipReason = "bubblewrap (bwrap) is not installed here; .ci/run installs it"
}
