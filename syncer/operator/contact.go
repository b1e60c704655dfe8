package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// ErrNotFound is returned when no contact has the id asked for.
var ErrNotFound = errors.New("no contact has this id")

// ContactState is one contact's sync state.
type ContactState struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	// State names the (brevo_sync_status, brevo_processing_status) pair,
	// with the raw pair, e.g. "Complete (Complete/Complete)".
	State string `json:"state"`
	// Columns holds every brevo_* column the contacts table has, by name,
	// as JSON values (timestamps as RFC 3339 text, NULL as null).
	Columns map[string]any `json:"columns"`
}

// Contact reads the sync state of the contact with id (a uuid in any case):
// every brevo_* column the table has (schema.Inspect tells which), so it
// works before and after migrate. It returns ErrNotFound when no contact
// has the id. The contact's webhook events live in package webhook
// (RecentEvents, by email); callers combine the two.
func Contact(ctx context.Context, db *pgxpool.Pool, id string) (ContactState, error) {
	canon, ok := ParseID(id)
	if !ok {
		return ContactState{}, fmt.Errorf("read contact: %q is not a contact id (uuid)", excerpt(id))
	}
	s, err := schema.Inspect(ctx, db)
	if err != nil {
		return ContactState{}, fmt.Errorf("read contact %s: %w", canon, err)
	}
	if !s.HasStates() {
		return ContactState{}, fmt.Errorf("read contact %s: %s", canon, s.Hint())
	}
	var cols []string
	for c := range s.Columns {
		if strings.HasPrefix(c, "brevo_") {
			cols = append(cols, c)
		}
	}
	slices.Sort(cols)
	pairs := make([]string, len(cols))
	for i, c := range cols {
		pairs[i] = schema.Literal(c) + ", " + pgx.Identifier{c}.Sanitize()
	}
	// jsonb_build_object takes at most 100 arguments: build it in parts.
	var objs []string
	for part := range slices.Chunk(pairs, 40) {
		objs = append(objs, "jsonb_build_object("+strings.Join(part, ", ")+")")
	}
	q := `SELECT id::text, email::text, brevo_sync_status::text, brevo_processing_status::text, ` +
		strings.Join(objs, " || ") + ` FROM contacts WHERE id = $1::uuid`
	var (
		st         ContactState
		sync       string
		proc       *string
		rawColumns []byte
	)
	err = db.QueryRow(ctx, q, canon).Scan(&st.ID, &st.Email, &sync, &proc, &rawColumns)
	if errors.Is(err, pgx.ErrNoRows) {
		return ContactState{}, ErrNotFound
	}
	if err != nil {
		return ContactState{}, fmt.Errorf("read contact %s: %w", canon, err)
	}
	if err := json.Unmarshal(rawColumns, &st.Columns); err != nil {
		return ContactState{}, fmt.Errorf("read contact %s: decode columns: %w", canon, err)
	}
	st.State = DescribeState(sync, proc)
	return st, nil
}
