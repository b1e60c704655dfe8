-- brevosync schema, part 7: the indexes the syncer claims and takes back by.
--
-- Both are partial, so they hold only rows with work, and small however
-- large contacts grows:
--
--   contacts_brevo_work_idx    rows waiting to be claimed, by due time
--                              (schema.DueAt): processing status Queued, or a
--                              scheduled retry (Queued/Error)
--   contacts_brevo_claims_idx  rows claimed, by lease expiry (schema.LeaseEnd):
--                              processing status Processing, whatever the
--                              sync status (rows the old scheduler left as
--                              Selected/Processing included)
--
-- Their predicates are schema.WorkWhere and schema.InFlight, written the
-- same way, so the planner can match them.
--
-- They replace part 1's contacts_brevo_pending_idx and
-- contacts_brevo_lease_idx, and contacts_lower_email_idx (the email key of
-- part 5 replaces it). Built and dropped concurrently, outside a
-- transaction: the application's writes never wait for them.

-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY IF NOT EXISTS contacts_brevo_work_idx
    ON contacts ((coalesce(brevo_next_retry_at, brevo_requested_at, '-infinity'::timestamptz)))
    WHERE (brevo_processing_status = 'Queued'
           OR (brevo_sync_status = 'Queued' AND brevo_processing_status = 'Error'));

CREATE INDEX CONCURRENTLY IF NOT EXISTS contacts_brevo_claims_idx
    ON contacts ((coalesce(brevo_lease_until, '-infinity'::timestamptz)))
    WHERE brevo_processing_status = 'Processing';

DROP INDEX CONCURRENTLY IF EXISTS contacts_brevo_pending_idx;
DROP INDEX CONCURRENTLY IF EXISTS contacts_brevo_lease_idx;
DROP INDEX CONCURRENTLY IF EXISTS contacts_lower_email_idx;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS contacts_brevo_work_idx;
DROP INDEX CONCURRENTLY IF EXISTS contacts_brevo_claims_idx;
