-- brevosync schema, part 1: the contacts table as the service needs it.
--
-- Every statement is idempotent and additive: on the existing application's
-- database (enums present, domain_id/page_id NOT NULL with foreign keys,
-- email_type an enum, timestamps without time zone, other CRMs' columns) it
-- adds only what is missing and rewrites no row. On an empty database it
-- creates everything.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF to_regtype('crm_sync_status') IS NULL THEN
        CREATE TYPE crm_sync_status AS ENUM
            ('New', 'Selected', 'Queued', 'Processing', 'Complete', 'Error', 'Skipped');
    END IF;
    IF to_regtype('crm_processing_status') IS NULL THEN
        CREATE TYPE crm_processing_status AS ENUM
            ('Queued', 'Processing', 'Complete', 'Error');
    END IF;
END
$$;
-- +goose StatementEnd

CREATE TABLE IF NOT EXISTS contacts (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email                   text NOT NULL,
    name                    text,
    phone_number            text,
    domain_id               uuid,
    page_id                 uuid,
    email_type              text,
    source_url              text,
    has_gmail               boolean,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    brevo_sync_status       crm_sync_status NOT NULL DEFAULT 'New',
    brevo_processing_status crm_processing_status,
    brevo_processing_error  text,
    brevo_contact_id        varchar
);

-- Service-owned columns. ADD COLUMN with a constant default does not rewrite
-- the table (PostgreSQL 11+), so this is quick on a large existing table.
ALTER TABLE contacts
    ADD COLUMN IF NOT EXISTS brevo_retry_count     integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS brevo_next_retry_at   timestamptz,
    ADD COLUMN IF NOT EXISTS brevo_synced_at       timestamptz,
    ADD COLUMN IF NOT EXISTS brevo_confirmed_at    timestamptz,
    ADD COLUMN IF NOT EXISTS brevo_unsubscribed_at timestamptz,
    -- when the current request was made (set by the trigger)
    ADD COLUMN IF NOT EXISTS brevo_requested_at    timestamptz,
    -- the claim: who holds the row (a token per claim) and until when
    ADD COLUMN IF NOT EXISTS brevo_claim_token     uuid,
    ADD COLUMN IF NOT EXISTS brevo_lease_until     timestamptz;

-- Work waiting to be claimed, in due order: a scheduled retry (or a claim
-- handed back) at its next_retry_at, a fresh request at its selection time.
-- Small: only rows in a waiting state.
CREATE INDEX IF NOT EXISTS contacts_brevo_pending_idx
    ON contacts ((coalesce(brevo_next_retry_at, brevo_requested_at, '-infinity'::timestamptz)))
    WHERE brevo_sync_status IN ('Selected', 'Queued');

-- Claims in flight, by lease expiry (rows stuck in Processing before
-- brevosync existed have no lease and count as expired).
CREATE INDEX IF NOT EXISTS contacts_brevo_lease_idx
    ON contacts ((coalesce(brevo_lease_until, '-infinity'::timestamptz)))
    WHERE brevo_sync_status = 'Processing';

-- Brevo webhooks name contacts by email, matched case-insensitively.
CREATE INDEX IF NOT EXISTS contacts_lower_email_idx ON contacts (lower(email));

-- +goose Down
-- Nothing: the columns hold the sync history and the table may predate us.
SELECT 1;
