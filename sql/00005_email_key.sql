-- brevosync schema, part 5: one email key for every match.
--
-- Emails match case-insensitively (contract §2) through one normalization,
-- schema.EmailKey in Go: trimmed, ASCII letters lowered, computed in the "C"
-- collation so that the key does not depend on the database's locale (with
-- a libc locale, lower() of 'É' gives 'é' on one server and 'É' on another,
-- and Go's strings.ToLower agrees with neither everywhere). The webhook
-- receiver and the syncer look contacts up by this key.
--
-- Built concurrently, outside a transaction: on a large live table the
-- application's writes never wait for it.

-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS contacts_brevo_email_key_idx
    ON contacts ((lower(btrim(email, E' \t\r\n') COLLATE "C")));

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS contacts_brevo_email_key_idx;
