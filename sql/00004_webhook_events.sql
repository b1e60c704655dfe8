-- brevosync schema, part 4: Brevo webhook events as received.
--
-- The webhook handler stores every accepted event here, in the same
-- transaction that applies its effect to contacts, before it answers 2xx.
-- One row per contact an event names (an event naming no email gets one row
-- with email NULL; a contact_updated naming several emails in content[]
-- gets one row per email, item 0, 1, …, each with the whole event).
--
-- Brevo sends no event id, so dedupe_key is derived from the content: the
-- hex SHA-256 of the event re-marshalled canonically (sorted keys, no white
-- space, numbers as written). A redelivery has the same key; the UNIQUE
-- constraint plus INSERT … ON CONFLICT DO NOTHING stores it once, and its
-- effect is applied only when the row is inserted.

-- +goose Up
CREATE TABLE IF NOT EXISTS brevosync_webhook_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key  text        NOT NULL,
    item        integer     NOT NULL DEFAULT 0,
    event       text        NOT NULL,
    email       text,
    effect      text        NOT NULL,
    payload     jsonb       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT brevosync_webhook_events_dedupe_key UNIQUE (dedupe_key, item)
);

COMMENT ON TABLE brevosync_webhook_events IS
    'Brevo webhook events received by brevosync, one row per contact named; see sql/00004_webhook_events.sql';
COMMENT ON COLUMN brevosync_webhook_events.dedupe_key IS
    'hex SHA-256 of the event JSON re-marshalled with sorted keys; equal for a redelivery';
COMMENT ON COLUMN brevosync_webhook_events.item IS
    'index of email among the emails the event names (0 when it names none)';
COMMENT ON COLUMN brevosync_webhook_events.event IS
    'the payload''s "event" field, e.g. list_addition, contact_updated, contact_deleted, unsubscribed, spam';
COMMENT ON COLUMN brevosync_webhook_events.email IS
    'the contact''s email, lower-cased; NULL when the event names none';
COMMENT ON COLUMN brevosync_webhook_events.effect IS
    'confirmed, unsubscribed (contact_updated with emailBlacklist also confirms), deleted, none (no effect for this event), unknown_email (no contact has this email)';
COMMENT ON COLUMN brevosync_webhook_events.payload IS
    'the event as received (one element of a batched delivery)';

-- Recent events first (status, retention).
CREATE INDEX IF NOT EXISTS brevosync_webhook_events_received_at_idx
    ON brevosync_webhook_events (received_at);

-- +goose Down
DROP TABLE IF EXISTS brevosync_webhook_events;
