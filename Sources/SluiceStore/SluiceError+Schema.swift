import SluiceCore

extension SluiceError {
    /// Marks ``newerSchema(at:schema:)`` errors in `detail`, where callers can tell them apart.
    private static let newerSchemaDetail = "newer_schema"

    /// The refusal of a database that a newer Sluice migrated (both backends): it holds tables or
    /// rules this version does not know, so nothing is written to it.
    package static func newerSchema(at location: String, schema newest: String) -> SluiceError {
        SluiceError(
            code: .storage,
            message: "the database at \(location) was migrated by a newer Sluice (schema \(newest), which this "
                + "version does not know); use that version or a later one",
            detail: newerSchemaDetail)
    }

    /// Whether this is the refusal of a database that a newer Sluice migrated.
    package var isNewerSchema: Bool { code == .storage && detail == Self.newerSchemaDetail }
}
