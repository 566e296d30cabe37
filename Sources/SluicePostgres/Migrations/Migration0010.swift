// PostgreSQL migration 0010_currency_rates. A released migration is never edited: add a new numbered file.

extension PostgresStorage {
    /// Migration `0010_currency_rates`: explicit rates between currencies (SQLite's migration 0008).
    static let migration0010 = (
        name: "0010_currency_rates",
        sql: #"""
        -- Sluice schema for PostgreSQL, version 10: currency rates. A rate is in force from
        -- recorded_at until a newer one for the same pair; rates are never changed or removed.

        CREATE TABLE currency_rates (
            from_currency        text NOT NULL CHECK (from_currency ~ '^[A-Z]{3}$'),
            to_currency          text NOT NULL CHECK (to_currency ~ '^[A-Z]{3}$' AND to_currency <> from_currency),
            recorded_at          sluice_time NOT NULL,
            rate_units           bigint NOT NULL CHECK (rate_units > 0),
            quoted_on            text NOT NULL CHECK (length(quoted_on) = 10),
            source               text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
            PRIMARY KEY (from_currency, to_currency, recorded_at)
        );

        CREATE FUNCTION sluice_currency_rates_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM sluice_refuse('currency rates are never changed or removed: record a newer one');
            RETURN NULL;
        END
        $$;
        CREATE TRIGGER currency_rates_no_change BEFORE UPDATE OR DELETE ON currency_rates
            FOR EACH ROW EXECUTE FUNCTION sluice_currency_rates_immutable();

        """#
    )
}
