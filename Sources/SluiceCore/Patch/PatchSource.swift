/// The diff behind a submitted patch, and the commits the landing pipeline recorded for it.
public struct PatchSource: Hashable, Sendable {
    /// The diff's SHA-256, its content address.
    public var sha256: String
    /// The diff exactly as submitted.
    public var bytes: [UInt8]
    /// The commit message to land it with, if the submitter gave one.
    public var message: String?
    /// The target branch's commit the patch was last applied on.
    public var baseCommit: String?
    /// The commit whose tree the gates passed.
    public var testedCommit: String?
    /// The commit that landed on the target branch.
    public var landedCommit: String?
    /// The commit the patch was made on, as its submitter said (`--base`, or a worktree's HEAD).
    public var madeOn: String?
    /// Who wrote it, as `Name <email>`, as its submitter said (`--author`).
    public var author: String?
    /// How soon the pipeline takes it, as submitted or last promoted.
    public var priority: PatchPriority

    public init(
        bytes: [UInt8], message: String? = nil, baseCommit: String? = nil, testedCommit: String? = nil,
        landedCommit: String? = nil, madeOn: String? = nil, author: String? = nil, priority: PatchPriority = .normal
    ) {
        self.priority = priority
        self.madeOn = madeOn
        self.author = author
        self.sha256 = SHA256.hex(bytes)
        self.bytes = bytes
        self.message = message
        self.baseCommit = baseCommit
        self.testedCommit = testedCommit
        self.landedCommit = landedCommit
    }
}
