-- brevosync schema, part 8: a note on a synced row.
--
-- brevo_sync_note says what Brevo was sent differently from the row, when
-- it was: for example a phone number left out because another Brevo
-- contact holds it (Brevo refuses duplicate SMS numbers). NULL otherwise.
-- A nullable column without a default: adding it rewrites nothing.

-- +goose Up
ALTER TABLE contacts ADD COLUMN IF NOT EXISTS brevo_sync_note text;

-- +goose Down
SELECT 1;
