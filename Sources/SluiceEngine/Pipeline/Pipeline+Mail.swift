import Foundation
import SluiceCore
import SluiceStore

/// Patches sent as `git format-patch` mail: git splits and reads them (`git mailsplit`, `git
/// mailinfo`), and the commit that lands keeps the mail's author, date, subject and body, with Sluice
/// as the committer.
extension Pipeline {
    /// Who wrote a patch and what they said of it, from its mail headers.
    public struct Authorship: Hashable, Sendable {
        public var name: String
        public var email: String
        /// As the mail's `Date:` header gives it (git reads that form).
        public var date: String?
        public var subject: String
        public var body: String

        /// `Name <email>` as given with `--author`, checked; nil stays nil.
        ///
        /// - Throws: `invalidInput` unless it is a name, a space and an address in angle brackets.
        static func checked(_ text: String?) throws -> String? {
            guard let text else { return nil }
            guard parse(text) != nil, text.count <= 1024 else {
                throw SluiceError.invalidInput("--author must be 'Name <email>', got '\(text)'")
            }
            return text
        }

        /// Splits `Name <email>`; nil when it is not that form.
        static func parse(_ text: String) -> (name: String, email: String)? {
            guard text.hasSuffix(">"), let open = text.lastIndex(of: "<"), !text.contains("\n"), !text.contains("\0")
            else { return nil }
            let name = text[..<open].trimmingCharacters(in: .whitespaces)
            let email = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
            guard !name.isEmpty, !name.contains("<"), !name.contains(">"), !email.isEmpty, !email.contains("<"),
                !email.contains(">")
            else {
                return nil
            }
            return (name, email)
        }

        /// The environment that makes `git commit` record this author (the committer stays Sluice).
        var environment: [String: String] {
            var variables = ["GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email]
            if let date { variables["GIT_AUTHOR_DATE"] = date }
            return variables
        }
    }

    /// Stores every message of a mailbox as its own patch, chained in order by `relations.chain_id`;
    /// anything else is one patch, as ``submit(_:_:)`` stores it.
    ///
    /// - Parameter configuration: the target branch's configuration and head, if the caller read them.
    public func submitAll(
        _ bytes: [UInt8], _ submission: Submission, configuration: (SluiceConfig, String)? = nil
    ) async throws -> [PatchLedgerEntry] {
        let read = try await self.configuration(given: configuration)
        guard let messages = try await mailboxMessages(bytes), messages.count > 1 else {
            return [try await submit(bytes, submission, configuration: read)]
        }
        var chained = submission
        chained.relations.chainID = chained.relations.chainID ?? engine.context.ids.next().description
        var entries: [PatchLedgerEntry] = []
        for message in messages { entries.append(try await submit(message, chained, configuration: read)) }
        return entries
    }

    /// The messages of a `git format-patch` mailbox, each a mailbox of its own (as `git am` reads
    /// them); nil when `bytes` is not a mailbox.
    func mailboxMessages(_ bytes: [UInt8]) async throws -> [[UInt8]]? {
        guard bytes.starts(with: Array("From ".utf8)) else { return nil }
        return try await withMailDirectory { directory in
            guard try await git.run(["mailsplit", "-o" + directory], input: bytes).succeeded else { return nil }
            let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            return try names.map { name in
                Array(try Data(contentsOf: URL(fileURLWithPath: (directory as NSString).appendingPathComponent(name))))
            }
        }
    }

    /// Runs `body` with a new folder for git's mail tools, removed afterwards.
    private func withMailDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sluice-mail-\(UUID().uuidString)"
        )
        .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await body(directory)
    }

    /// Who wrote a patch and what they said of it: `--author` (with `--message`, else the mail's subject
    /// and body), else the mail's headers; nil for a plain diff submitted without `--author`.
    func authorship(of source: PatchSource) async throws -> Authorship? {
        let mail = try await authorship(of: source.bytes)
        guard let given = source.author, let (name, email) = Authorship.parse(given) else { return mail }
        return Authorship(
            name: name, email: email, date: nil, subject: mail?.subject ?? "", body: mail?.body ?? "")
    }

    /// The author and message of a patch sent as mail; nil for a plain diff.
    func authorship(of bytes: [UInt8]) async throws -> Authorship? {
        guard bytes.starts(with: Array("From ".utf8)) else { return nil }
        return try await withMailDirectory { directory in
            let message = (directory as NSString).appendingPathComponent("message")
            let info = try await git.run(
                ["mailinfo", message, (directory as NSString).appendingPathComponent("patch")], input: bytes)
            guard info.succeeded else { return nil }
            var fields: [String: String] = [:]
            for line in String(decoding: info.stdout, as: UTF8.self).split(separator: "\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            guard let name = fields["Author"], !name.isEmpty, let email = fields["Email"], !email.isEmpty else {
                return nil
            }
            let body = (try? String(contentsOfFile: message, encoding: .utf8)) ?? ""
            return Authorship(
                name: name, email: email, date: fields["Date"], subject: fields["Subject"] ?? "",
                body: body.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// Whether a queued patch of a chain may go now: every earlier patch of its chain has landed.
    /// When one of them ended without landing, the chain is broken and this patch cannot land either.
    func chainStanding(_ entry: PatchLedgerEntry) async throws -> ChainStanding {
        guard let chain = entry.relations.chainID else { return .ready }
        let earlier = try await engine.patches.list(PatchFilter(projectID: entry.projectID))
            .filter { $0.relations.chainID == chain && $0.ledgerID < entry.ledgerID }
        if let broken = earlier.first(where: { [PatchState.quarantined, .dropped, .rolledBack].contains($0.state) }) {
            return .broken(broken.ledgerID)
        }
        return earlier.allSatisfy { $0.state == .committed } ? .ready : .waiting
    }

    enum ChainStanding: Equatable {
        case ready, waiting
        case broken(LedgerID)
    }
}
