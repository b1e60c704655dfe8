-- brevosync schema, part 3: the replicas' registry.
--
-- Each running `serve` keeps a row here fresh. Replicas use the count of live
-- rows to share BREVO_SYNC_RATE_LIMIT (Brevo counts per account), and
-- `status` lists them.

-- +goose Up
CREATE TABLE IF NOT EXISTS brevosync_nodes (
    id           uuid PRIMARY KEY,
    hostname     text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE IF EXISTS brevosync_nodes;
