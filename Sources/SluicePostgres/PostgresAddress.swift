import Foundation
import PostgresNIO
import SluiceCore

/// A `postgres://user[:password]@host[:port]/database` URL, taken apart. `package` for the
/// benchmarks, which open raw connections beside the storage's.
package struct PostgresAddress: Equatable {
    enum TLSMode: String {
        case disable, prefer, require
    }

    var user: String
    var password: String?
    /// A host name or address; nil when `socketDirectory` is set.
    var host: String?
    var port: Int
    /// The directory of a Unix-domain socket (`?host=/dir`), as libpq takes it.
    var socketDirectory: String?
    var database: String
    var tls: TLSMode

    /// - Throws: `invalidInput` naming what is wrong; the message never repeats the password.
    package init(parsing url: String) throws {
        func bad(_ why: String) -> SluiceError {
            SluiceError.invalidInput("the database URL is not postgres://user[:password]@host[:port]/database: \(why)")
        }
        guard let components = URLComponents(string: url) else { throw bad("it cannot be parsed") }
        guard components.scheme?.lowercased() == "postgres" || components.scheme?.lowercased() == "postgresql" else {
            throw bad("the scheme must be postgres")
        }
        guard let user = components.user, !user.isEmpty else { throw bad("it names no user") }
        self.user = user
        self.password = components.password
        let query = components.queryItems ?? []
        if let directory = query.first(where: { $0.name == "host" })?.value, directory.hasPrefix("/") {
            self.socketDirectory = directory
            self.host = nil
        } else {
            guard let host = components.host, !host.isEmpty else { throw bad("it names no host") }
            self.host = host
            self.socketDirectory = nil
        }
        self.port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw bad("the port must be from 1 to 65535") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw bad("it names no database") }
        self.database = database
        let mode = query.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        guard let tls = TLSMode(rawValue: mode) else { throw bad("sslmode must be disable, prefer or require") }
        self.tls = tls
        for item in query where !["host", "sslmode"].contains(item.name) {
            throw bad("unknown parameter \(item.name)")
        }
    }

    /// The URL without its password, to show in messages.
    package var redacted: String {
        let place = socketDirectory.map { "localhost/\(database)?host=\($0)" } ?? "\(host ?? ""):\(port)/\(database)"
        return "postgres://\(user)@\(place)"
    }

    /// postgres-nio's settings for this address.
    package func configuration() throws -> PostgresConnection.Configuration {
        if let socketDirectory {
            return PostgresConnection.Configuration(
                unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password,
                database: database)
        }
        let tls: PostgresConnection.Configuration.TLS
        switch self.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        return PostgresConnection.Configuration(
            host: host ?? "localhost", port: port, username: user, password: password, database: database, tls: tls)
    }
}
