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

-- The indexes brevosync's statements use are built concurrently, outside a
-- transaction, so that a first migrate on a large live table never blocks
-- the application's writes: see 00005 and 00007.

-- +goose Down
-- Nothing: the columns hold the sync history and the table may predate us.
SELECT 1;
