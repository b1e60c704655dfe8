package schema_test

import (
	"context"
	"testing"

	"github.com/brevosync/brevosync/sql/schematest"
)

func TestMigrateFresh(t *testing.T) {
	t.Parallel()
	pool := schematest.NewPool(t)
	ctx := context.Background()
	var id string
	err := pool.QueryRow(ctx, `INSERT INTO contacts (email, brevo_sync_status, brevo_processing_status)
		VALUES ('a@example.com', 'Selected', 'Queued') RETURNING id`).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
}
