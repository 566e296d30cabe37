/// Any key of a JSON object, to list the keys it holds.
private struct AnyKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }

    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// Refuses an object holding a key that `Key` does not name.
    ///
    /// The records' optional fields are decoded with `decodeIfPresent`, so without this a
    /// misspelt field (`coverage` for `coverage_percent`) would be dropped without a word and
    /// the record read as if it had not been given.
    func refuseUnknownKeys<Key: CodingKey & CaseIterable>(_ keys: Key.Type) throws {
        let known = Set(Key.allCases.map(\.stringValue))
        let container = try container(keyedBy: AnyKey.self)
        guard let unknown = container.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) })
        else { return }
        let path = codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        throw DecodingError.dataCorrupted(
            DecodingError.Context(
                codingPath: codingPath,
                debugDescription: (path.isEmpty ? "" : "at \(path): ")
                    + "unknown field '\(unknown)'; the fields are "
                    + Key.allCases.map(\.stringValue).joined(separator: ", ")))
    }
}
