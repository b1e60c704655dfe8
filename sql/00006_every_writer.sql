-- brevosync schema, part 6: a request from every writer.
--
-- The application queues contacts in three ways (contract §2, "Every
-- writer's request"): Selected/Queued (its UI), Queued/Queued (its DeBounce
-- auto-queue and its queue endpoints) and Error/Queued (its documented
-- "reset failed" SQL). Each such write, by anyone but brevosync, starts a
-- request fresh in the same statement and notifies.
--
-- brevosync's own writes never count as a request. They are told apart by
-- what only brevosync writes: every write of brevosync's that leaves a row
-- waiting (a claim handed back after a 429 or at shutdown, an expired claim
-- taken back) also releases the row's claim token, which the application
-- never touches. Rows claimed before brevosync existed have no token; taking
-- them back counts as a request, which is what they were. No session
-- setting is needed, so this holds through any connection pooler.

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
    WHEN (NEW.brevo_processing_status = 'Queued'
          AND NEW.brevo_sync_status IN ('Selected', 'Queued', 'Error'))
    EXECUTE FUNCTION brevosync_request();

DROP TRIGGER IF EXISTS brevosync_request_update ON contacts;
CREATE TRIGGER brevosync_request_update
    BEFORE UPDATE OF brevo_sync_status, brevo_processing_status ON contacts
    FOR EACH ROW
    WHEN (NEW.brevo_processing_status = 'Queued'
          AND NEW.brevo_sync_status IN ('Selected', 'Queued', 'Error')
          AND (OLD.brevo_sync_status IS DISTINCT FROM NEW.brevo_sync_status
               OR OLD.brevo_processing_status IS DISTINCT FROM NEW.brevo_processing_status)
          -- brevosync's own write: it releases a claim.
          AND NOT (OLD.brevo_claim_token IS NOT NULL AND NEW.brevo_claim_token IS NULL))
    EXECUTE FUNCTION brevosync_request();

-- +goose Down
-- Back to part 2's triggers: only Selected/Queued is a request.
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
