package operator

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
)

// UnselectResult is what Unselect did.
type UnselectResult struct {
	// Unselected counts the contacts set back to New; AlreadyNew those
	// that were New already (left as they were).
	Unselected, AlreadyNew int
	// NotFound are the entries no contact matched, in order.
	NotFound []string
}

// unselectSQL is the application's unselect: back to New, processing
// status NULL.
var unselectSQL = writeSQL(schema.New.Set(), "NOT "+schema.New.Is())

// Unselect is the application's unselect on the contacts in's entries
// name: it writes New with processing status NULL (schema.New) on each of
// them, whatever its state, and nothing else. So:
//
//   - a request not yet claimed is withdrawn: it is never sent;
//   - a request claimed and in flight may still reach the CRM, but its
//     outcome is dropped (the claim no longer holds) and the row stays New;
//   - a Complete contact becomes New; the mirror (contract §8) removes it
//     from the lists through the database trigger on this same write;
//   - a Failed contact becomes New with its last error kept on the row.
//
// Like Select it is all or nothing: any bad entry stops it before it
// writes (an *InvalidError), and the entries are written in one
// transaction, batch entries per statement (DefaultBatch when zero), so a
// database error leaves nothing applied.
func Unselect(ctx context.Context, db *pgxpool.Pool, in *Entries, batch int) (UnselectResult, error) {
	var res UnselectResult
	if err := checkInput(in, false); err != nil {
		return res, err
	}
	if len(in.List) == 0 {
		return res, nil
	}
	notFound, err := applyEntries(ctx, db, in.List, batch, unselectSQL, false, func(m matched) {
		if m.written {
			res.Unselected++
		} else {
			res.AlreadyNew++
		}
	}, nil)
	if err != nil {
		return UnselectResult{}, fmt.Errorf("unselect %d contacts (nothing applied: the transaction was rolled back, so running it again is safe): %w", len(in.List), err)
	}
	res.NotFound = notFound
	return res, nil
}
