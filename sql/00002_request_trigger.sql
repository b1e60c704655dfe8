-- brevosync schema, part 2: the request trigger.
--
-- A request is any INSERT or UPDATE that leaves a row Selected/Queued when it
-- was not so before. The BEFORE trigger starts the request fresh in the same
-- statement and issues NOTIFY in the same transaction.
--
-- NOTIFY is only a wake-up hint: the payload is constant, so PostgreSQL folds
-- all of a transaction's notifications into one, and one UPDATE selecting
-- 100,000 rows queues a single notification. The rows themselves are the
-- queue. A bulk job may skip even that one with
--     SET LOCAL brevosync.skip_notify = 'on';
-- the fallback sweep then picks its rows up.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION brevosync_request() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.brevo_retry_count      := 0;
    NEW.brevo_processing_error := NULL;
    NEW.brevo_next_retry_at    := NULL;
    NEW.brevo_claim_token      := NULL;
    NEW.brevo_lease_until      := NULL;
    NEW.brevo_requested_at     := clock_timestamp();
    IF coalesce(current_setting('brevosync.skip_notify', true), '') <> 'on' THEN
        PERFORM pg_notify('brevosync', '');
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

DROP TRIGGER IF EXISTS brevosync_request_insert ON contacts;
CREATE TRIGGER brevosync_request_insert
    BEFORE INSERT ON contacts
    FOR EACH ROW
    WHEN (NEW.brevo_sync_status = 'Selected' AND NEW.brevo_processing_status = 'Queued')
    EXECUTE FUNCTION brevosync_request();

DROP TRIGGER IF EXISTS brevosync_request_update ON contacts;
CREATE TRIGGER brevosync_request_update
    BEFORE UPDATE OF brevo_sync_status, brevo_processing_status ON contacts
    FOR EACH ROW
    WHEN (NEW.brevo_sync_status = 'Selected' AND NEW.brevo_processing_status = 'Queued'
          AND (OLD.brevo_sync_status IS DISTINCT FROM 'Selected'
               OR OLD.brevo_processing_status IS DISTINCT FROM 'Queued'))
    EXECUTE FUNCTION brevosync_request();

-- +goose Down
DROP TRIGGER IF EXISTS brevosync_request_update ON contacts;
DROP TRIGGER IF EXISTS brevosync_request_insert ON contacts;
DROP FUNCTION IF EXISTS brevosync_request();
