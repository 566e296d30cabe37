import PostgresNIO
import SluiceCore
import SluiceStore

/// Brings a database's schema up to date with the migrations compiled into this binary.
///
/// All of it happens in one transaction under a transaction-level advisory lock, so two processes
/// opening a new database at once apply each migration once, and a failed migration leaves nothing.
/// Applied migrations are recorded by name in `sluice_migrations`.
enum PostgresMigrator {
    /// Every migration, in order: (name, SQL). A new migration gets the next number; a released one
    /// is never edited.
    static let migrations: [(name: String, sql: String)] = [
        PostgresStorage.migration0001, PostgresStorage.migration0002, PostgresStorage.migration0003,
        PostgresStorage.migration0004, PostgresStorage.migration0005,
        PostgresStorage.migration0006, PostgresStorage.migration0007, PostgresStorage.migration0008,
        PostgresStorage.migration0009, PostgresStorage.migration0010, PostgresStorage.migration0011,
        PostgresStorage.migration0012, PostgresStorage.migration0013,
    ]

    /// 8317151707346042882 = 0x736C756963650002 ('sluice', 2): the migrations' lock.
    static let lockKey: Int64 = 0x736C_7569_6365_0002

    /// - Returns: the names of the migrations this call applied.
    @discardableResult
    static func migrate(_ connection: Connection, location: String, through count: Int? = nil) throws -> [String] {
        try connection.transaction("BEGIN") {
            var key = PostgresBindings()
            key.append(lockKey)
            try connection.query("SELECT pg_advisory_xact_lock($1)", key)
            try connection.query(
                """
                CREATE TABLE IF NOT EXISTS sluice_migrations (
                    name text COLLATE "C" PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            let applied = Set(try applied(connection))
            // A database that a newer Sluice has migrated holds tables or rules this version does not
            // know; writing to it could break them, so it is refused before anything is written.
            let migrations = Self.migrations.prefix(count ?? Self.migrations.count)
            if let newest = applied.subtracting(migrations.map(\.name)).max() {
                throw SluiceError.newerSchema(at: location, schema: newest)
            }
            var appliedNow: [String] = []
            for migration in migrations where !applied.contains(migration.name) {
                appliedNow.append(migration.name)
                for statement in statements(in: migration.sql) {
                    try connection.query(statement)
                }
                var name = PostgresBindings()
                name.append(migration.name)
                try connection.query("INSERT INTO sluice_migrations (name) VALUES ($1)", name)
            }
            return appliedNow
        }
    }

    /// The names of the applied migrations, in order.
    static func applied(_ connection: Connection) throws -> [String] {
        let exists = try connection.query("SELECT to_regclass('sluice_migrations') IS NOT NULL")
        guard try exists.first?.decode(Bool.self) == true else { return [] }
        return try connection.query("SELECT name FROM sluice_migrations ORDER BY name").map {
            try $0.decode(String.self)
        }
    }

    /// Splits a script into its statements: at each `;` outside quotes ('…', "…", $tag$…$tag$) and
    /// comments. postgres-nio sends each statement as an extended query, which takes one at a time.
    static func statements(in script: String) -> [String] {
        var statements: [String] = []
        var current: [Character] = []
        let characters = Array(script)
        var index = 0
        func flush() {
            let text = String(current).trimmingWhitespace()
            if !text.isEmpty && !text.allSatisfyComment { statements.append(text) }
            current = []
        }
        while index < characters.count {
            let character = characters[index]
            switch character {
            case "-" where index + 1 < characters.count && characters[index + 1] == "-":
                while index < characters.count && characters[index] != "\n" {
                    current.append(characters[index])
                    index += 1
                }
                continue
            case "'", "\"":
                current.append(character)
                index += 1
                while index < characters.count {
                    current.append(characters[index])
                    index += 1
                    if characters[index - 1] == character { break }
                }
                continue
            case "$":
                // A dollar-quote tag: $$ or $name$.
                var end = index + 1
                while end < characters.count, characters[end].isLetter || characters[end] == "_" { end += 1 }
                if end < characters.count, characters[end] == "$" {
                    let tag = Array(characters[index...end])
                    current.append(contentsOf: tag)
                    index = end + 1
                    while index < characters.count {
                        if characters[index] == "$", index + tag.count <= characters.count,
                            Array(characters[index..<index + tag.count]) == tag
                        {
                            current.append(contentsOf: tag)
                            index += tag.count
                            break
                        }
                        current.append(characters[index])
                        index += 1
                    }
                    continue
                }
            case ";":
                flush()
                index += 1
                continue
            default:
                break
            }
            current.append(character)
            index += 1
        }
        flush()
        return statements
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }

    /// True when every non-blank line is a `--` comment.
    fileprivate var allSatisfyComment: Bool {
        split(separator: "\n").allSatisfy { line in
            let text = line.drop(while: \.isWhitespace)
            return text.isEmpty || text.hasPrefix("--")
        }
    }
}
