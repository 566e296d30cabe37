import SluiceCore
import SluiceStore

/// Quarantined tests (`flaky.quarantine_after`, `sluice tests quarantine`): tests that still run and
/// are reported, but whose failures no longer decide their gate.
extension Engine {
    /// The quarantines on record, by gate and test: those in force, or released ones too.
    public func testQuarantines(gate: String? = nil, includingReleased: Bool = false) async throws -> [TestQuarantine] {
        let all = try await context.storage.read { try $0.testQuarantines(gate: gate) }
        return includingReleased ? all : all.filter(\.quarantined)
    }

    /// A person quarantines `test` of `gate`: its failures stop deciding the gate until a person
    /// releases it (Sluice never releases what a person quarantined). A gate's required tests are
    /// quarantined only this way.
    ///
    /// - Throws: ``SluiceError`` (`invalidInput`) for an empty or reserved name; (`conflict`) when a
    ///   person quarantined the test already. Nothing is written then.
    @discardableResult
    public func quarantineTest(_ test: String, gate: String, by person: String, reason: String?) async throws
        -> TestQuarantine
    {
        let person = try Self.person(person)
        let test = try Self.testName(test)
        let now = context.clock.now()
        let why = reason.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 } ?? "quarantined by hand"
        return try await context.storage.write { tx in
            let current = try tx.testQuarantines(gate: gate).first { $0.test == test }
            if let current, current.quarantined, !current.automatic {
                throw SluiceError(
                    code: .conflict,
                    message: "test \(test) of gate \(gate) is quarantined already, by \(current.quarantinedBy) at "
                        + "\(current.quarantinedAt): \(current.reason)")
            }
            let quarantine = TestQuarantine(
                gate: gate, test: test, automatic: false, quarantinedBy: person, quarantinedAt: now, reason: why)
            let event = Event(
                entityKind: .gate, entityID: quarantine.entityID,
                fromState: current?.quarantined == true
                    ? "quarantined" : "deciding", toState: "quarantined", reason: why, at: now, actor: person,
                payload: ["gate": .string(gate), "test": .string(test), "automatic": .bool(false)])
            try tx.putTestQuarantine(quarantine, event: event)
            return quarantine
        }
    }

    /// A person releases `test` of `gate`: its failures decide the gate again.
    ///
    /// - Throws: ``SluiceError`` (`invalidInput`) for an empty or reserved name; (`notFound`) when
    ///   the test is not quarantined. Nothing is written then.
    @discardableResult
    public func unquarantineTest(_ test: String, gate: String, by person: String, reason: String?) async throws
        -> TestQuarantine
    {
        let person = try Self.person(person)
        let now = context.clock.now()
        let why = reason.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 } ?? "released by hand"
        return try await context.storage.write { tx in
            guard let current = try tx.testQuarantines(gate: gate).first(where: { $0.test == test }),
                current.quarantined
            else {
                throw SluiceError(
                    code: .notFound, message: "test \(test) of gate \(gate) is not quarantined; nothing was changed")
            }
            let released = current.released(by: person, at: now, reason: why)
            try tx.putTestQuarantine(released, event: Self.releaseEvent(released, at: now))
            return released
        }
    }

    /// After a flake verdict of `gate` named `tests`: quarantines each that flake verdicts named
    /// `flaky.quarantine_after` times since it was last released, unless it is one of the gate's
    /// required tests, quarantined already, or a gate's own name (a gate without results). Returns
    /// those it quarantined.
    func quarantineFlaky(_ tests: [String], of gate: GateConfig, settings: FlakySettings) async throws
        -> [TestQuarantine]
    {
        guard settings.quarantineAfter > 0 else { return [] }
        let candidates = tests.filter { test in
            test != gate.name && !gate.criteria.requiredTests.contains { Self.names($0, test) }
                && !Self.isPositional(test, of: gate)
        }
        guard !candidates.isEmpty else { return [] }
        let reruns = try await gates.list(GateFilter(state: .passed, name: gate.name)).filter {
            $0.metadata["rerun_of"] != nil
        }
        let now = context.clock.now()
        return try await context.storage.write { tx in
            let current = try tx.testQuarantines(gate: gate.name)
            var quarantined: [TestQuarantine] = []
            for test in candidates {
                let previous = current.first { $0.test == test }
                guard previous?.quarantined != true else { continue }
                let since = previous?.releasedAt
                let flakes = reruns.filter { record in
                    (since.map { (record.execution.completedAt ?? record.updatedAt) > $0 } ?? true)
                        && Pipeline.passedTests(record, of: Self.failedNames(record)).contains(test)
                }.count
                guard flakes >= settings.quarantineAfter else { continue }
                let why =
                    "flaked \(flakes) times" + (since.map { " since it was released at \($0)" } ?? "")
                    + " (flaky.quarantine_after: \(settings.quarantineAfter)); released after "
                    + "\(settings.releaseAfter) passing runs in a row"
                let quarantine = TestQuarantine(
                    gate: gate.name, test: test, automatic: true, quarantinedBy: TestQuarantine.automaticActor,
                    quarantinedAt: now, reason: why)
                let event = Event(
                    entityKind: .gate, entityID: quarantine.entityID, fromState: "deciding", toState: "quarantined",
                    reason: why, at: now, actor: TestQuarantine.automaticActor,
                    payload: ["gate": .string(gate.name), "test": .string(test), "automatic": .bool(true)])
                try tx.putTestQuarantine(quarantine, event: event)
                quarantined.append(quarantine)
            }
            return quarantined
        }
    }

    /// Once patch `id` landed: counts the runs that passed it (the newest passing run of each gate, not
    /// a check of the branch) toward each quarantined test of their gate, and releases one Sluice
    /// quarantined that passed `releaseAfter` runs in a row. Only landed trees count: a patch that
    /// never lands can neither release a test nor keep one quarantined, and nothing is released while
    /// a patch is being judged.
    func countTowardRelease(landed id: LedgerID, releaseAfter: Int) async throws {
        guard try await !testQuarantines().isEmpty else { return }
        let runs = try await gates.list(GateFilter(state: .passed, ledgerID: id.description))
        var counted: Set<String> = []
        for run in runs where run.metadata["check"] != .string("base") && counted.insert(run.name).inserted {
            let now = context.clock.now()
            try await context.storage.write { tx in
                try Self.countQuarantinedRun(run, releaseAfter: releaseAfter, at: now, tx)
            }
        }
    }

    /// Counts gate run `record` toward each test of its gate quarantined before the run ended.
    static func countQuarantinedRun(
        _ record: TestGateRecord, releaseAfter: Int, at now: Timestamp, _ tx: any StorageWriter
    ) throws {
        guard record.state == .passed || record.state == .failed, let results = record.results,
            !results.testCases.isEmpty
        else { return }
        let ended = record.execution.completedAt ?? record.updatedAt
        for quarantine in try tx.testQuarantines(gate: record.name) where quarantine.quarantinedAt < ended {
            guard var next = quarantine.counting(results) else { continue }
            if next.automatic, next.passesInARow >= releaseAfter {
                next = next.released(
                    by: TestQuarantine.automaticActor, at: now,
                    reason: "passed \(next.passesInARow) runs of gate \(record.name) in a row (flaky.release_after: "
                        + "\(releaseAfter)); the last was gate run \(record.gateID)")
                try tx.putTestQuarantine(next, event: releaseEvent(next, at: now))
            } else {
                try tx.putTestQuarantine(next, event: nil)
            }
        }
    }

    static func releaseEvent(_ released: TestQuarantine, at now: Timestamp) -> Event {
        Event(
            entityKind: .gate, entityID: released.entityID, fromState: "quarantined", toState: "deciding",
            reason: released.releaseReason, at: now, actor: released.releasedBy ?? TestQuarantine.automaticActor,
            payload: ["gate": .string(released.gate), "test": .string(released.test)])
    }

    /// The tests a rerun's failed runs named (its metadata `failed_tests`).
    static func failedNames(_ record: TestGateRecord) -> Set<String> {
        guard case .array(let names)? = record.metadata["failed_tests"] else { return [] }
        return Set(names.compactMap { if case .string(let name) = $0 { name } else { nil } })
    }

    /// Whether a name as `required_tests` gives it (`classname.name` or `name`) names `test` (qualified).
    static func names(_ required: String, _ test: String) -> Bool {
        required == test || test.hasSuffix("." + required)
    }

    /// Whether `test` is a TAP test without a description, named by its position ("test 3"): another
    /// test can take that position, so such a name is never quarantined.
    public static func isPositional(_ test: String, of gate: GateConfig) -> Bool {
        guard gate.resultsFormat == .tap, test.hasPrefix("test ") else { return false }
        let rest = test.dropFirst("test ".count)
        let number = rest.prefix { $0.isASCII && $0.isNumber }
        return !number.isEmpty
            && (number.count == rest.count || rest.dropFirst(number.count) == " (planned, never reported)")
    }

    static func person(_ name: String) throws -> String {
        let name = name.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw SluiceError.invalidInput("--by needs the name of the person who decides, on one line")
        }
        guard name.lowercased() != TestQuarantine.automaticActor else {
            throw SluiceError.invalidInput(
                "--by \(name) is Sluice's own name, for what it decides by itself; give a person's name")
        }
        return name
    }

    static func testName(_ name: String) throws -> String {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw SluiceError.invalidInput("a test's name is needed, as its gate's results give it")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }), name.count <= 1000
        else {
            throw SluiceError.invalidInput(
                "a test's name must be at most 1000 characters, without control characters (tabs, line breaks)")
        }
        return name
    }
}
