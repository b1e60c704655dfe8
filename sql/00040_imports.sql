-- brevosync schema, part 40: large backlogs through Brevo's contact import.
--
-- When many contacts wait, the syncer sends them through
-- POST /contacts/import (contract §5, "Large backlogs") instead of one
-- upsert each. An import can take minutes, so its contacts are held by a job
-- kept here rather than by per-row leases that would need renewing:
--
--   brevosync_imports       one row per import job. The job's contacts are
--                           Processing under its claim_token (and a long
--                           safety lease, see syncer/import_store.go);
--                           contact_ids lists them so that any replica can
--                           take the job over after a crash. state is
--                           pending (claimed, waiting its turn), submitting,
--                           submitted (Brevo has it: process_id), upserting
--                           (rows whose fate the reports could not tell are
--                           sent one by one), ids (waiting for Brevo's ids),
--                           done.
--   brevosync_import_state  one row per Brevo account ('brevo'): which
--                           replica drives the imports (one at a time, as
--                           Brevo asks) and until when, the GET /processes
--                           budget shared by every replica (a token bucket:
--                           Brevo allows 100 requests an hour there), and the
--                           cursor of the contact-id listing.
--
-- Neither table is the application's: PUBLIC and the roles that inherit
-- privileges by default (Supabase's anon and authenticated) get nothing, and
-- row-level security is on (the owner, brevosync, is not subject to it).

-- +goose Up
CREATE TABLE IF NOT EXISTS brevosync_imports (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state         text        NOT NULL,
    claim_token   uuid        NOT NULL,
    contact_ids   uuid[]      NOT NULL,
    n_contacts    integer     NOT NULL,
    body_bytes    integer     NOT NULL DEFAULT 0,
    secret_sha256 bytea,
    process_id    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    submitted_at  timestamptz,
    notified_at   timestamptz,
    checked_at    timestamptz,
    checks        integer     NOT NULL DEFAULT 0,
    finished_at   timestamptz,
    result        text,
    rejected      integer     NOT NULL DEFAULT 0,
    fallback      integer     NOT NULL DEFAULT 0,
    CONSTRAINT brevosync_imports_state CHECK
        (state IN ('pending', 'submitting', 'submitted', 'upserting', 'ids', 'done'))
);

COMMENT ON TABLE brevosync_imports IS
    'brevosync''s Brevo import jobs; see sql/00040_imports.sql';
COMMENT ON COLUMN brevosync_imports.secret_sha256 IS
    'SHA-256 of the secret in the job''s notifyUrl path; NULL when imports carry no notifyUrl';
COMMENT ON COLUMN brevosync_imports.result IS
    'how the job ended: completed, failed, cancelled, timed out, not submitted, released, empty';

-- The open jobs, in order.
CREATE INDEX IF NOT EXISTS brevosync_imports_open_idx
    ON brevosync_imports (id) WHERE state <> 'done';

-- One import in Brevo at a time: simultaneous imports get stuck there.
CREATE UNIQUE INDEX IF NOT EXISTS brevosync_imports_one_in_brevo
    ON brevosync_imports ((true)) WHERE state IN ('submitting', 'submitted');

CREATE TABLE IF NOT EXISTS brevosync_import_state (
    account         text PRIMARY KEY,
    driver          uuid,
    driver_until    timestamptz,
    proc_tokens     float8      NOT NULL,
    proc_at         timestamptz NOT NULL DEFAULT now(),
    proc_held_until timestamptz,
    ids_since       timestamptz,
    ids_offset      integer     NOT NULL DEFAULT 0
);

COMMENT ON TABLE brevosync_import_state IS
    'who drives Brevo imports, the shared GET /processes budget and the id-listing cursor; see sql/00040_imports.sql';

-- +goose StatementBegin
DO $$
DECLARE
    r text;
BEGIN
    REVOKE ALL ON brevosync_imports, brevosync_import_state FROM PUBLIC;
    EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM PUBLIC', pg_get_serial_sequence('brevosync_imports', 'id'));
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('REVOKE ALL ON brevosync_imports, brevosync_import_state FROM %I', r);
            EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM %I',
                           pg_get_serial_sequence('brevosync_imports', 'id'), r);
        END IF;
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER TABLE brevosync_imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE brevosync_import_state ENABLE ROW LEVEL SECURITY;

-- +goose Down
DROP TABLE IF EXISTS brevosync_import_state;
DROP TABLE IF EXISTS brevosync_imports;
