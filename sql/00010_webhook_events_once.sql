-- brevosync schema, part 10: each webhook event stored once.
--
-- Until now an event naming N contacts (a contact_updated with N content[]
-- items) was stored as N rows, item 0 … N-1, each with the whole event:
-- quadratic in N. From here on every event is one row, item 0, and
-- `emails` holds the keys (schema.EmailKey / schema.NormalizeEmail) of every
-- contact it names, in payload order; `email` keeps the first of them for
-- display. Rows stored before this migration stay as they are, as history:
-- one per contact, `emails` NULL. A redelivery of such an event still hits
-- (dedupe_key, 0) and is recognized as a duplicate.
--
-- The table is written by every webhook delivery, so the column is added
-- under a short lock timeout, retried: the ALTER never queues the
-- receiver's inserts for more than about a second. Its indexes are built
-- concurrently by 00011.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    attempt integer := 0;
BEGIN
    PERFORM set_config('lock_timeout', '1s', true);
    LOOP
        BEGIN
            ALTER TABLE brevosync_webhook_events ADD COLUMN IF NOT EXISTS emails text[];
            EXIT;
        EXCEPTION WHEN lock_not_available THEN
            attempt := attempt + 1;
            IF attempt >= 30 THEN
                RAISE;
            END IF;
            PERFORM pg_sleep(0.2);
        END;
    END LOOP;
END
$$;
-- +goose StatementEnd

COMMENT ON TABLE brevosync_webhook_events IS
    'Brevo webhook events received by brevosync, one row per event (rows from before sql/00010_webhook_events_once.sql: one per contact named); see sql/00004 and 00010';
COMMENT ON COLUMN brevosync_webhook_events.item IS
    '0; on rows stored before 00010, the index of email among the emails the event names';
COMMENT ON COLUMN brevosync_webhook_events.email IS
    'the first contact the event names, as its key (for display); NULL when it names none';
COMMENT ON COLUMN brevosync_webhook_events.emails IS
    'the keys (schema.EmailKey) of every contact the event names, in payload order; empty when none; NULL on rows stored before 00010 (one row per contact, see email)';
COMMENT ON COLUMN brevosync_webhook_events.effect IS
    'confirmed, unsubscribed (contact_updated with emailBlacklist also confirms), deleted, none (no effect for this event), unknown_email (no contact has any email the event names)';

-- +goose Down
ALTER TABLE brevosync_webhook_events DROP COLUMN IF EXISTS emails;
