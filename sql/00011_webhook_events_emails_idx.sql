-- brevosync schema, part 11: finding a contact's webhook events.
--
-- The operator console shows a contact's recent events
-- (webhook.RecentEvents): events naming an email are found through a GIN
-- index on `emails` (emails @> ARRAY[key]); rows stored before 00010 (one
-- per contact, `emails` NULL) through a partial index on `email`, which
-- only shrinks as retention prunes that history.
--
-- Built concurrently, outside a transaction: webhook deliveries never wait
-- for them.

-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS brevosync_webhook_events_emails_idx
    ON brevosync_webhook_events USING gin (emails);

CREATE INDEX CONCURRENTLY IF NOT EXISTS brevosync_webhook_events_history_email_idx
    ON brevosync_webhook_events (email) WHERE emails IS NULL;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS brevosync_webhook_events_history_email_idx;
DROP INDEX CONCURRENTLY IF EXISTS brevosync_webhook_events_emails_idx;
