import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What identifies a gate's process group across a crash of the run that started it: the group id,
/// the boot it belongs to, and its leader's start time. A later run kills the group only if it is
/// provably the same one, never a group that reused the number.
struct ProcessGroupRecord: Hashable, Sendable {
    let pgid: Int32
    let bootID: String
    let leaderStart: UInt64

    /// The record for a group whose leader is `pid`, read from /proc; nil where /proc is missing.
    static func current(leader pid: Int32) -> ProcessGroupRecord? {
        guard let boot = bootID(), let start = ProcSnapshot(pid: pid)?.startTime else { return nil }
        return ProcessGroupRecord(pgid: pid, bootID: boot, leaderStart: start)
    }

    /// `pgid boot start`, one line.
    var line: String { "\(pgid) \(bootID) \(leaderStart)\n" }

    init(pgid: Int32, bootID: String, leaderStart: UInt64) {
        self.pgid = pgid
        self.bootID = bootID
        self.leaderStart = leaderStart
    }

    init?(line: String) {
        let fields = line.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard fields.count == 3, let pgid = Int32(fields[0]), pgid > 1, let start = UInt64(fields[2]) else {
            return nil
        }
        self.init(pgid: pgid, bootID: fields[1], leaderStart: start)
    }

    /// Kills the group if it is still this one; returns whether a signal was sent.
    ///
    /// Linux does not hand out a number still in use as a process group id, so while any member
    /// lives the number means this group. If the leader lives, its start time must match; if only
    /// other members live, they can only be this group's.
    @discardableResult
    func killIfStillOurs() -> Bool {
        guard ProcessGroupRecord.bootID() == bootID else { return false }
        if let leader = ProcSnapshot(pid: pgid) {
            guard leader.startTime == leaderStart, leader.processGroup == pgid else { return false }
        } else if !ProcSnapshot.anyProcess(inGroup: pgid) {
            return false
        }
        return kill(-pgid, SIGKILL) == 0
    }

    static func bootID() -> String? {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The fields of `/proc/<pid>/stat` this needs.
struct ProcSnapshot {
    let processGroup: Int32
    let startTime: UInt64

    init?(pid: Int32) {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        self.init(stat: text)
    }

    /// Parses after the command name, which is in parentheses and may hold spaces.
    init?(stat: String) {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3): the process group is field 5, the start time field 22.
        guard fields.count > 19, fields[0] != "Z", let group = Int32(fields[2]), let start = UInt64(fields[19]) else {
            return nil
        }
        self.processGroup = group
        self.startTime = start
    }

    static func anyProcess(inGroup pgid: Int32) -> Bool {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.contains { name in
            guard let pid = Int32(name) else { return false }
            return ProcSnapshot(pid: pid)?.processGroup == pgid
        }
    }
}
