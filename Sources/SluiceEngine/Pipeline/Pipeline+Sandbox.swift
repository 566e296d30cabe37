import Foundation
import SluiceCore
import SluiceStore

extension Pipeline {
    /// Whether this run seals its gates, decided once at its start from `sluice.yml`'s `sandbox:` and
    /// from whether bubblewrap works here.
    ///
    /// - Throws: ``SluiceError`` (`blocked`) when `sandbox: bubblewrap` is set and bubblewrap cannot
    ///   seal a command: the run stops rather than run gates unsealed.
    func sealing(
        _ config: SluiceConfig, available: Result<String, SandboxUnavailable>, emit: (PipelineEvent) -> Void
    ) throws -> String? {
        let (bubblewrap, unsealed) = try Pipeline.seal(config.sandbox, available: available, what: "gates")
        if let unsealed {
            emit(
                PipelineEvent(
                    step: "warning", ledgerID: nil, outcome: "unsealed",
                    message: "gates are not sealed: \(unsealed); install bubblewrap, or set sandbox: none "
                        + "in sluice.yml to run them unsealed knowingly"))
        }
        return bubblewrap
    }

    /// The bubblewrap that seals `what` (gates, agents) under `mode`: nil when unsealed, with the reason
    /// when `auto` found none that works (the caller warns).
    ///
    /// - Throws: ``SluiceError`` (`blocked`) when `mode` is `bubblewrap` and bubblewrap cannot seal here.
    static func seal(_ mode: SandboxMode, available: Result<String, SandboxUnavailable>, what: String) throws
        -> (bubblewrap: String?, unsealed: String?)
    {
        switch (mode, available) {
        case (.none, _):
            return (nil, nil)
        case (_, .success(let bubblewrap)):
            return (bubblewrap, nil)
        case (.auto, .failure(let problem)):
            return (nil, problem.reason)
        case (.bubblewrap, .failure(let problem)):
            throw SluiceError(
                code: .blocked,
                message: "cannot run \(what) sealed: sluice.yml sets sandbox: bubblewrap, but \(problem.reason); "
                    + "install bubblewrap (Debian: apt-get install bubblewrap)")
        }
    }

    /// The seal of one gate: bubblewrap with only the workspace and the gate's cache writable (see
    /// ``seal(bubblewrap:writable:network:)``).
    func sandbox(
        for gate: GateConfig, workspace: String, cache: String? = nil, bubblewrap: String?
    ) -> ProcessSandbox {
        seal(bubblewrap: bubblewrap, writable: [workspace, cache ?? gateCachePath], network: gate.network)
    }

    /// The seal gates and agents share: bubblewrap with only `writable` writable, and the ledger, logs,
    /// locks, quarantine and every workspace out of sight. The repository is shown read-only (its
    /// `.git` is what a workspace's `.git` file points at), even under `/tmp`; so is HOME.
    func seal(bubblewrap: String?, writable: [String], network: Bool) -> ProcessSandbox {
        guard let bubblewrap else { return .unsealed }
        var hidden = [sluiceDirectory, scratchDirectory]
        // A ledger kept elsewhere (--db, $SLUICE_DB) is hidden by name, with its journal files.
        if let database = (engine.context.storage as? SQLiteStorage)?.path, database.hasPrefix("/") {
            hidden += ["", "-wal", "-shm", "-journal"].map { database + $0 }
        }
        // HOME stays readable even where it lives under /tmp, which the sandbox replaces.
        let home = ProcessInfo.processInfo.environment["HOME"].map { [$0] } ?? []
        return ProcessSandbox(
            bubblewrap: bubblewrap, writable: writable, hidden: hidden,
            readOnly: home + [repository] + linkedGitDirectories(), network: network)
    }

    /// When the repository is itself a linked worktree (its `.git` is a file), its git directory and
    /// the common one it shares live elsewhere; a gate's git reads them too.
    func linkedGitDirectories() -> [String] {
        let link = (repository as NSString).appendingPathComponent(".git")
        guard let text = try? String(contentsOfFile: link, encoding: .utf8), text.hasPrefix("gitdir: ") else {
            return []
        }
        func resolve(_ path: String, from base: String) -> String {
            let path = path.trimmingCharacters(in: .whitespacesAndNewlines)
            let absolute = path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
            return (absolute as NSString).standardizingPath
        }
        let own = resolve(String(text.dropFirst("gitdir: ".count)), from: repository)
        guard let common = try? String(contentsOfFile: own + "/commondir", encoding: .utf8) else { return [own] }
        return [own, resolve(common, from: own)]
    }

    /// A gate's whole environment: the allow-listed part of Sluice's, the names it passes (`pass_env`),
    /// `XDG_CACHE_HOME` at its cache, then what it sets (`env`).
    static func environment(
        for gate: GateConfig, cache: String, inherited: [String: String] = ProcessInfo.processInfo.environment
    ) -> [String: String] {
        var variables = ProcessRunner.allowListed(inherited)
        for name in gate.passEnvironment { variables[name] = inherited[name] }
        variables["XDG_CACHE_HOME"] = cache
        for (name, value) in gate.environment { variables[name] = value }
        return variables
    }
}
