-- brevosync schema, part 9: the mirror (contract §8).
--
-- Once a contact is synced (Complete), Brevo stays in step with it:
--
--   * a change to a mapped column (name, phone_number, domain_id, page_id,
--     email_type, source_url, has_gmail, email) makes the row Complete/Queued,
--     "update pending": the sync status stays Complete, which is true (Brevo
--     has the contact), and the application's UI never shows it Selected;
--     made while the contact's first sync is in flight, it makes the request
--     fresh again (Selected/Queued), so the new data is sent;
--   * unselecting it (Complete -> New, the application's unselect) makes it
--     New/Queued, "removal pending": it leaves the BREVO_LIST_ID lists;
--   * deleting it records its email in brevosync_removals, so that its
--     removal from the lists survives a restart.
--
-- Each queues a notification in its transaction, with the same constant
-- payload as a selection: one per statement however many rows it changes.
-- The update trigger fires only for UPDATEs that set a mapped column (UPDATE
-- OF), so a write to any other column costs nothing; the unselect is one
-- more case of the request trigger, so a selection pays for no second
-- trigger.
--
-- BREVO_SYNC_MIRROR=false turns all three off. The setting is a constant in
-- the functions' bodies (`mirror CONSTANT boolean := true;`), which `serve`
-- rewrites at start when it differs (schema.SetMirror): no lookup per row,
-- and no lock on contacts to change it.
--
-- brevosync's own writes that unselect a contact (a webhook saying Brevo
-- deleted it) set brevosync.skip_mirror locally in their transaction. The
-- delete trigger runs as its owner (SECURITY DEFINER): the application's
-- roles may not write brevosync_removals, and need not.

-- +goose Up
ALTER TABLE contacts ADD COLUMN IF NOT EXISTS brevo_synced_email text;

CREATE TABLE IF NOT EXISTS brevosync_removals (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email            text        NOT NULL,
    brevo_contact_id varchar,
    deleted_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer     NOT NULL DEFAULT 0,
    lease_until      timestamptz,
    last_error       text
);
CREATE INDEX IF NOT EXISTS brevosync_removals_due_idx
    ON brevosync_removals ((coalesce(lease_until, '-infinity'::timestamptz)));
COMMENT ON TABLE brevosync_removals IS
    'contacts deleted from contacts while synced: their emails still to be removed from the BREVO_LIST_ID lists';

-- The request trigger's function, with the unselect of a synced contact.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION brevosync_request() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mirror CONSTANT boolean := true;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.brevo_sync_status = 'New' THEN
        -- A synced contact unselected: a removal, when the mirror is on.
        IF NOT mirror OR coalesce(current_setting('brevosync.skip_mirror', true), '') = 'on' THEN
            RETURN NEW;
        END IF;
        NEW.brevo_processing_status := 'Queued';
    END IF;
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION brevosync_mirror_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mirror CONSTANT boolean := true;
BEGIN
    IF NOT mirror THEN
        RETURN NEW;
    END IF;
    IF OLD.brevo_sync_status = 'Processing' THEN
        -- Its first sync is in flight with the old data: a fresh request,
        -- and the flight's outcome is dropped (its claim no longer holds).
        NEW.brevo_sync_status := 'Selected';
    END IF;
    NEW.brevo_processing_status := 'Queued';
    NEW.brevo_retry_count       := 0;
    NEW.brevo_processing_error  := NULL;
    NEW.brevo_next_retry_at     := NULL;
    NEW.brevo_claim_token       := NULL;
    NEW.brevo_lease_until       := NULL;
    NEW.brevo_requested_at      := clock_timestamp();
    IF coalesce(current_setting('brevosync.skip_notify', true), '') <> 'on' THEN
        PERFORM pg_notify('brevosync', '');
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION brevosync_mirror_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    mirror CONSTANT boolean := true;
BEGIN
    IF NOT mirror THEN
        RETURN OLD;
    END IF;
    INSERT INTO brevosync_removals (email, brevo_contact_id) VALUES (OLD.email, OLD.brevo_contact_id);
    IF coalesce(current_setting('brevosync.skip_notify', true), '') <> 'on' THEN
        PERFORM pg_notify('brevosync', '');
    END IF;
    RETURN OLD;
END
$$;
-- +goose StatementEnd

-- A request (part 6), or the unselect of a synced contact.
DROP TRIGGER IF EXISTS brevosync_request_update ON contacts;
CREATE TRIGGER brevosync_request_update
    BEFORE UPDATE OF brevo_sync_status, brevo_processing_status ON contacts
    FOR EACH ROW
    WHEN ((NEW.brevo_processing_status = 'Queued'
           AND NEW.brevo_sync_status IN ('Selected', 'Queued', 'Error')
           AND (OLD.brevo_sync_status IS DISTINCT FROM NEW.brevo_sync_status
                OR OLD.brevo_processing_status IS DISTINCT FROM NEW.brevo_processing_status)
           -- brevosync's own write: it releases a claim.
           AND NOT (OLD.brevo_claim_token IS NOT NULL AND NEW.brevo_claim_token IS NULL))
          OR (OLD.brevo_sync_status = 'Complete' AND NEW.brevo_sync_status = 'New'))
    EXECUTE FUNCTION brevosync_request();

-- A synced contact's mapped data changed, or an in-flight one's.
DROP TRIGGER IF EXISTS brevosync_mirror_update ON contacts;
CREATE TRIGGER brevosync_mirror_update
    BEFORE UPDATE OF email, name, phone_number, domain_id, page_id, email_type, source_url, has_gmail ON contacts
    FOR EACH ROW
    WHEN (OLD.brevo_sync_status IN ('Complete', 'Processing') AND NEW.brevo_sync_status = OLD.brevo_sync_status
          AND (OLD.email IS DISTINCT FROM NEW.email
               OR OLD.name IS DISTINCT FROM NEW.name
               OR OLD.phone_number IS DISTINCT FROM NEW.phone_number
               OR OLD.domain_id IS DISTINCT FROM NEW.domain_id
               OR OLD.page_id IS DISTINCT FROM NEW.page_id
               OR OLD.email_type IS DISTINCT FROM NEW.email_type
               OR OLD.source_url IS DISTINCT FROM NEW.source_url
               OR OLD.has_gmail IS DISTINCT FROM NEW.has_gmail))
    EXECUTE FUNCTION brevosync_mirror_change();

-- A synced contact (or one whose removal is pending) was deleted.
DROP TRIGGER IF EXISTS brevosync_mirror_deleted ON contacts;
CREATE TRIGGER brevosync_mirror_deleted
    AFTER DELETE ON contacts
    FOR EACH ROW
    WHEN (OLD.brevo_sync_status = 'Complete'
          OR (OLD.brevo_sync_status = 'New' AND OLD.brevo_processing_status IS NOT NULL))
    EXECUTE FUNCTION brevosync_mirror_delete();

-- +goose Down
DROP TRIGGER IF EXISTS brevosync_mirror_deleted ON contacts;
DROP TRIGGER IF EXISTS brevosync_mirror_update ON contacts;
DROP FUNCTION IF EXISTS brevosync_mirror_delete();
DROP FUNCTION IF EXISTS brevosync_mirror_change();
DROP TABLE IF EXISTS brevosync_removals;
-- Back to part 6's request trigger: no unselect.
DROP TRIGGER IF EXISTS brevosync_request_update ON contacts;
CREATE TRIGGER brevosync_request_update
    BEFORE UPDATE OF brevo_sync_status, brevo_processing_status ON contacts
    FOR EACH ROW
    WHEN (NEW.brevo_processing_status = 'Queued'
          AND NEW.brevo_sync_status IN ('Selected', 'Queued', 'Error')
          AND (OLD.brevo_sync_status IS DISTINCT FROM NEW.brevo_sync_status
               OR OLD.brevo_processing_status IS DISTINCT FROM NEW.brevo_processing_status)
          AND NOT (OLD.brevo_claim_token IS NOT NULL AND NEW.brevo_claim_token IS NULL))
    EXECUTE FUNCTION brevosync_request();
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
