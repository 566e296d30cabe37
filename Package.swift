// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SluiceCore", targets: ["SluiceCore"]),
        .library(name: "SluiceStore", targets: ["SluiceStore"]),
        .library(name: "SluicePostgres", targets: ["SluicePostgres"]),
        .library(name: "SluiceEngine", targets: ["SluiceEngine"]),
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "sluice-bench", targets: ["sluice-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // Pure domain: no storage, network or process imports.
        .target(name: "SluiceCore"),
        // sqlite3_config is variadic: a C shim calls it for the storage.
        .target(name: "CSQLiteTuning", linkerSettings: [.linkedLibrary("sqlite3")]),
        // prctl is variadic too: a C shim makes the run a child subreaper for unsealed gates.
        .target(name: "CProcessControl"),
        // The storage protocol and its SQLite implementation.
        .target(
            name: "SluiceStore",
            dependencies: [
                "SluiceCore", "CSQLiteTuning", .product(name: "GRDB", package: "GRDB.swift"),
                // The C API, for the few hot statements that bind and read columns directly.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // The PostgreSQL implementation of the storage, for ledgers shared by workers on many machines.
        .target(
            name: "SluicePostgres",
            dependencies: [
                "SluiceCore", "SluiceStore", "CProcessControl", .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // The four services over a store.
        .target(
            name: "SluiceEngine",
            dependencies: [
                "SluiceCore", "SluiceStore", "CProcessControl", .product(name: "Yams", package: "Yams"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        // The command-line commands, in a library so in-process tests cover them.
        .target(
            name: "SluiceCLI",
            dependencies: [
                "SluiceCore", "SluiceStore", "SluicePostgres", "SluiceEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "sluice", dependencies: ["SluiceCLI", "SluiceStore"]),
        // The benchmarks, in a library so a test can run them small; the executable only calls them.
        .target(
            name: "SluiceBench",
            dependencies: [
                "SluiceCore", "SluiceStore", "SluicePostgres", "SluiceEngine",
                .product(name: "GRDB", package: "GRDB.swift"),
                // Raw connections for the server's own baseline, beside the storage's.
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .executableTarget(name: "sluice-bench", dependencies: ["SluiceBench", "SluiceStore"]),
        .target(name: "SluiceTesting", dependencies: ["SluiceCore", "SluiceStore", "SluicePostgres", "SluiceEngine"]),
        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceCore", "SluiceTesting"]),
        .testTarget(
            name: "SluiceStoreTests",
            dependencies: ["SluiceStore", "SluiceTesting", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "SluicePostgresTests", dependencies: ["SluicePostgres", "SluiceTesting"]),
        .testTarget(name: "SluiceEngineTests", dependencies: ["SluiceEngine", "SluicePostgres", "SluiceTesting"]),
        .testTarget(name: "SluiceCLITests", dependencies: ["SluiceCLI", "SluiceTesting"]),
        .testTarget(name: "SluiceBenchTests", dependencies: ["SluiceBench", "SluiceTesting"]),
    ],
    swiftLanguageModes: [.v6]
)
