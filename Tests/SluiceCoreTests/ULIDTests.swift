import SluiceCore
import SluiceTesting
import Testing

@Suite("ULID")
struct ULIDTests {
    @Test("the canonical form round-trips through parsing")
    func roundTrip() throws {
        let id = ULIDGenerator.shared.next()
        let text = id.description
        #expect(text.count == 26)
        #expect(try ULID(parsing: text) == id)
        #expect(try ULID(parsing: text.lowercased()) == id)
    }

    @Test("a known value decodes to its timestamp")
    func knownValue() throws {
        let id = try ULID(parsing: "01ARZ3NDEKTSV4RRFFQ69G5FAV")
        // Computed independently: the first ten base32 digits read as a number.
        #expect(id.milliseconds == 1_469_922_850_259)
        #expect(id.description == "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    }

    @Test("ids from one generator increase strictly, even within one millisecond")
    func monotonic() {
        let clock = FakeClock()
        let generator = ULIDGenerator(clock: clock)
        var previous = generator.next()
        for index in 0..<10_000 {
            if index % 1000 == 0 { clock.advance(milliseconds: 1) }
            let next = generator.next()
            #expect(next > previous)
            #expect(next.description > previous.description)
            previous = next
        }
    }

    @Test("the timestamp part is the clock's time")
    func timestampPart() {
        let clock = FakeClock()
        let id = ULIDGenerator(clock: clock).next()
        #expect(Int64(id.milliseconds) == clock.now().milliseconds)
    }

    @Test(
        "malformed ULIDs are rejected with invalidInput",
        arguments: [
            "", "01ARZ3NDEKTSV4RRFFQ69G5FA", "01ARZ3NDEKTSV4RRFFQ69G5FAVX", "01ARZ3NDEKTSV4RRFFQ69G5FAU",
            "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "01ARZ3NDEKTSV4RRFFQ69G5F-V",
        ])
    func malformed(text: String) {
        #expect {
            try ULID(parsing: text)
        } throws: { ($0 as? SluiceError)?.code == .invalidInput }
    }

    @Test("a typed id names its kind in the error")
    func typedError() {
        #expect {
            try WorkerID(parsing: "nope")
        } throws: { error in
            let error = error as? SluiceError
            return error?.code == .invalidInput && error?.message.contains("worker id") == true
        }
    }

    @Test("typed ids encode as their ULID string")
    func typedJSON() throws {
        let id = GateID.make()
        #expect(try SluiceJSON.line([id]) == "[\"\(id)\"]")
    }
}

@Suite("Timestamp")
struct TimestampTests {
    @Test("formats as ISO 8601 UTC with milliseconds")
    func format() {
        #expect(Timestamp(milliseconds: 0).description == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp(milliseconds: 1_767_225_600_123).description == "2026-01-01T00:00:00.123Z")
        #expect(Timestamp(milliseconds: -1).description == "1969-12-31T23:59:59.999Z")
    }

    @Test("parses what it formats, and shorter or longer fractions")
    func parse() throws {
        for millis: Int64 in [0, 1, 951_782_400_000, 1_767_225_600_123, 4_102_444_799_999] {
            #expect(try Timestamp(parsing: Timestamp(milliseconds: millis).description).milliseconds == millis)
        }
        #expect(try Timestamp(parsing: "2026-01-01T00:00:00Z").milliseconds == 1_767_225_600_000)
        #expect(try Timestamp(parsing: "2026-01-01T00:00:00.5Z").milliseconds == 1_767_225_600_500)
        #expect(try Timestamp(parsing: "2026-01-01T00:00:00.123456Z").milliseconds == 1_767_225_600_123)
    }

    @Test(
        "rejects what is not UTC ISO 8601",
        arguments: ["", "2026-01-01", "2026-01-01T00:00:00+01:00", "2026-13-01T00:00:00Z", "yesterday"])
    func rejects(text: String) {
        #expect(throws: SluiceError.self) { try Timestamp(parsing: text) }
    }
}

@Suite("SHA-256")
struct SHA256Tests {
    @Test(
        "known digests (FIPS 180-4 examples)",
        arguments: [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
        ])
    func known(text: String, hex: String) {
        #expect(SHA256.hex(Array(text.utf8)) == hex)
    }
}
