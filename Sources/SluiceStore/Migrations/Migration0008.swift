// Migration 0008_currency_rates. A released migration is never edited.

extension SQLiteStorage {
    /// Migration `0008_currency_rates`: explicit rates between currencies, with the day each was
    /// quoted on and its source, through which a cost or an estimate counts against a budget in
    /// another currency.
    static let migration0008 = (
        name: "0008_currency_rates",
        sql: #"""
        -- Sluice schema, version 8: currency rates. A rate is in force from recorded_at until a newer
        -- one for the same pair; rates are never changed or removed, so a conversion made once is made
        -- the same way again. rate_units is integer billionths of `to_currency` per one `from_currency`.

        CREATE TABLE currency_rates (
            from_currency        TEXT NOT NULL
                CHECK (length(from_currency) = 3 AND from_currency GLOB '[A-Z][A-Z][A-Z]'),
            to_currency          TEXT NOT NULL
                CHECK (length(to_currency) = 3 AND to_currency GLOB '[A-Z][A-Z][A-Z]'
                    AND to_currency <> from_currency),
            recorded_at          TEXT NOT NULL,
            rate_units           INTEGER NOT NULL CHECK (rate_units > 0),
            quoted_on            TEXT NOT NULL CHECK (length(quoted_on) = 10),
            source               TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
            PRIMARY KEY (from_currency, to_currency, recorded_at)
        ) WITHOUT ROWID;

        CREATE TRIGGER currency_rates_no_update BEFORE UPDATE ON currency_rates BEGIN
            SELECT RAISE(ABORT, 'currency rates are never changed: record a newer one');
        END;

        CREATE TRIGGER currency_rates_no_delete BEFORE DELETE ON currency_rates BEGIN
            SELECT RAISE(ABORT, 'currency rates are never removed: record a newer one');
        END;

        """#
    )
}
