import CProcessControl
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Finds what an unsealed gate left outside its process group (`setsid sleep 4242 &`), and kills it.
///
/// A process whose parent dies is handed to the nearest ancestor that is a *child subreaper*, else
/// to init. Once the program running gates is a subreaper (``adoptOrphans()``), every process a gate
/// left behind becomes its child. After a gate's group is killed, a child of ours outside our own
/// session that is not the leader of a gate still running can only be such an orphan: the processes
/// Sluice starts itself (git, Foundation's `Process`) stay in its session, and a gate's descendants
/// can never join it. Sealed gates do not need this: their PID namespace ends with them.
public enum OrphanReaper {
    /// Makes this process the reaper of its orphaned descendants (Linux's `PR_SET_CHILD_SUBREAPER`).
    ///
    /// It is a setting of the whole process, so a library does not make it on its own: the program
    /// that runs gates calls it once (`sluice run` and `sluice demo` do). Its cost: orphans of any
    /// child become this process's children, which the next unsealed gate's sweep reaps.
    /// - Returns: whether the setting took (false where the platform has none).
    @discardableResult
    public static func adoptOrphans() -> Bool { sluice_set_child_subreaper(1) == 0 }

    /// Whether this process adopts its orphaned descendants.
    public static var isAdoptingOrphans: Bool { sluice_is_child_subreaper() == 1 }

    // MARK: - The gates this process runs

    struct Registry {
        /// Gates being started: their leader's pid is not known yet.
        var starting = 0
        /// Leaders of the gates running now: our children outside our session that are no orphans.
        var leaders: Set<Int32> = []
    }

    static let registry = Mutex(Registry())

    static func willStart() { registry.withLock { $0.starting += 1 } }

    static func didStart(_ pid: Int32?) {
        registry.withLock {
            $0.starting -= 1
            if let pid { $0.leaders.insert(pid) }
        }
    }

    static func didEnd(_ pid: Int32) { _ = registry.withLock { $0.leaders.remove(pid) } }

    /// Whether `pid` is registered as the leader of a session this process runs (a gate or an agent).
    package static func isLeader(_ pid: Int32) -> Bool { registry.withLock { $0.leaders.contains(pid) } }

    // MARK: - The sweep

    /// Kills what is left of the session that `leader` started (processes that only changed their
    /// group) and, when ``adoptOrphans()`` took, kills and reaps every orphan adopted by this
    /// process, until none is left; returns how many were killed.
    ///
    /// A process killed a moment ago hands its children over only once it has died, so the sweep
    /// ends only when the gate's session is gone and a scan finds no orphan.
    @discardableResult
    static func killOrphans(session leader: Int32?) async -> Int {
        let adopting = isAdoptingOrphans
        guard adopting || leader != nil else { return 0 }
        let me = getpid()
        let session = getsid(0)
        var killed = 0
        for _ in 0..<400 {
            // Scanned and killed under the lock, and never while a gate is being started, whose new
            // leader would look like an orphan until it is registered.
            let found: [ProcStatus]? = registry.withLock { registry in
                guard registry.starting == 0 else { return nil }
                let all = ProcStatus.all()
                // The gate's own session: no other process can hold its number while it exists.
                let stragglers = leader.map { id in all.filter { $0.session == id && !$0.isZombie } } ?? []
                let orphans = all.filter {
                    adopting && $0.parent == me && $0.session != session && !registry.leaders.contains($0.pid)
                }
                for process in stragglers + orphans where !process.isZombie {
                    // An orphan that leads a group (setsid) takes its group with it.
                    if process.group == process.pid { _ = kill(-process.pid, SIGKILL) }
                    _ = kill(process.pid, SIGKILL)
                }
                return stragglers + orphans
            }
            guard let found else {
                try? await Task.sleep(for: .milliseconds(5))
                continue
            }
            if found.isEmpty { break }
            killed += found.filter { !$0.isZombie }.count
            for orphan in found where orphan.isZombie && orphan.parent == me {
                var status: Int32 = 0
                _ = waitpid(orphan.pid, &status, WNOHANG)
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return killed
    }
}

extension OrphanReaper {
    /// Reaps orphans adopted by this process that have already exited, killing none: after a sealed
    /// gate, whose namespace's init is handed here when bubblewrap dies first, and which would
    /// otherwise stay a zombie for as long as a watching run lives.
    static func reapExited() {
        guard isAdoptingOrphans else { return }
        let me = getpid()
        let session = getsid(0)
        registry.withLock { registry in
            // A gate being started may exit before it is registered: its zombie is Subprocess's to reap.
            guard registry.starting == 0 else { return }
            for process in ProcStatus.all()
            where process.isZombie && process.parent == me && process.session != session
                && !registry.leaders.contains(process.pid)
            {
                var status: Int32 = 0
                _ = waitpid(process.pid, &status, WNOHANG)
            }
        }
    }
}

/// The fields of `/proc/<pid>/stat` the sweep reads.
struct ProcStatus {
    let pid: Int32
    let isZombie: Bool
    let parent: Int32
    let group: Int32
    let session: Int32

    init?(pid: Int32) {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // After the command name: state (field 3), parent (4), group (5), session (6).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 3, let parent = Int32(fields[1]), let group = Int32(fields[2]),
            let session = Int32(fields[3])
        else { return nil }
        self.pid = pid
        self.isZombie = fields[0] == "Z"
        self.parent = parent
        self.group = group
        self.session = session
    }

    static func all() -> [ProcStatus] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
            Int32(name).flatMap(ProcStatus.init(pid:))
        }
    }
}
