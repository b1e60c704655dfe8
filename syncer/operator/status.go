package operator

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer"
)

// Report is `status --json` and GET /api/v1/status. Fields that cannot be
// known on a database missing part of brevosync's schema are null.
type Report struct {
	GeneratedAt time.Time    `json:"generated_at"`
	Schema      SchemaStatus `json:"schema"`
	// Total is the number of contacts.
	Total int64 `json:"total"`
	// States: the named states first, in a fixed order and even when empty,
	// then any other (sync, processing) pair found, by count.
	States []StateCount `json:"states"`
	// OldestWaiting is the oldest request not finished yet; null when none.
	OldestWaiting *OldestWaiting `json:"oldest_waiting"`
	Retries       RetryStatus    `json:"retries"`
	// ContactsWithError counts contacts with brevo_processing_error set;
	// Errors groups them by cause, largest first, at most 10.
	ContactsWithError int64        `json:"contacts_with_error"`
	Errors            []ErrorCause `json:"errors"`
	Webhooks          WebhookStats `json:"webhooks"`
	// Replicas are the serve processes with a heartbeat in the last 30s;
	// null when the brevosync_nodes table does not exist.
	Replicas []Replica `json:"replicas"`
}

// SchemaStatus says whether brevosync's schema is installed.
type SchemaStatus struct {
	// Migrated: everything `brevosync migrate` creates is present.
	Migrated bool `json:"migrated"`
	// Missing names what is absent, e.g. "column contacts.brevo_retry_count".
	Missing []string `json:"missing"`
	// Hint says what to do about it; empty when migrated.
	Hint string `json:"hint,omitempty"`
}

// StateCount is how many contacts are in one state.
type StateCount struct {
	// Name is the human name ("Retry scheduled"), or "sync/processing" for
	// a combination with no name.
	Name string `json:"name"`
	// SyncStatus and ProcessingStatus are the raw column values; null
	// processing status is JSON null.
	SyncStatus       string  `json:"sync_status"`
	ProcessingStatus *string `json:"processing_status"`
	Count            int64   `json:"count"`
}

// OldestWaiting is the oldest unfinished request.
type OldestWaiting struct {
	// Since is brevo_requested_at, or updated_at where that is NULL.
	Since      time.Time `json:"since"`
	AgeSeconds float64   `json:"age_seconds"`
	// State is the oldest request's state name.
	State string `json:"state"`
}

// RetryStatus summarizes the scheduled retries.
type RetryStatus struct {
	// Scheduled counts Retry scheduled (Queued/Error) contacts.
	Scheduled int64 `json:"scheduled"`
	// Due counts those whose brevo_next_retry_at has passed (or is NULL);
	// null when the column does not exist.
	Due *int64 `json:"due"`
	// NextAt is the earliest brevo_next_retry_at still in the future.
	NextAt *time.Time `json:"next_at"`
}

// ErrorCause is one cause of the contacts' current errors.
type ErrorCause struct {
	// Cause is the error text without attempt counts, ids and addresses.
	Cause   string `json:"cause"`
	Count   int64  `json:"count"`
	Example string `json:"example"`
	// States counts the contacts with this cause per state name.
	States map[string]int64 `json:"states"`
}

// WebhookStats is what Brevo's webhooks told.
type WebhookStats struct {
	// ConfirmedContacts and UnsubscribedContacts count contacts with
	// brevo_confirmed_at / brevo_unsubscribed_at set; null when the column
	// does not exist.
	ConfirmedContacts    *int64 `json:"confirmed_contacts"`
	UnsubscribedContacts *int64 `json:"unsubscribed_contacts"`
	// EventsLast24h counts events received in the last 24 hours by effect
	// (confirmed, unsubscribed, deleted, none, unknown_email); null when the
	// brevosync_webhook_events table does not exist.
	EventsLast24h map[string]int64 `json:"events_last_24h"`
}

// Replica is one live `serve` process.
type Replica struct {
	ID          string    `json:"id"`
	Hostname    string    `json:"hostname"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
}

// Status reads the report, with one pass over contacts. It works on a
// database missing part of brevosync's schema, before migrate, and fails
// only when the database does.
func Status(ctx context.Context, db *pgxpool.Pool) (*Report, error) {
	s, err := schema.Inspect(ctx, db)
	if err != nil {
		return nil, err
	}
	rep := &Report{GeneratedAt: s.Now.UTC(), States: []StateCount{}, Errors: []ErrorCause{}}
	rep.Schema.Missing = s.Missing()
	rep.Schema.Migrated = len(rep.Schema.Missing) == 0
	rep.Schema.Hint = s.Hint()

	if s.HasStates() {
		if err := collectContacts(ctx, db, s, rep); err != nil {
			return nil, err
		}
	} else {
		for _, n := range schema.Named {
			rep.States = append(rep.States, StateCount{Name: n.Name, SyncStatus: n.Sync, ProcessingStatus: nullable(n.Proc)})
		}
	}
	if s.HasEvents {
		if err := collectEvents(ctx, db, rep); err != nil {
			return nil, err
		}
	}
	if s.HasNodes {
		if err := collectReplicas(ctx, db, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func collectContacts(ctx context.Context, db *pgxpool.Pool, s schema.Info, rep *Report) error {
	rows, err := db.Query(ctx, contactsStatusSQL(s), syncer.CausePrefix)
	if err != nil {
		return fmt.Errorf("count contacts: %w", err)
	}
	type pair struct{ sync, proc string }
	states := map[pair]*StateCount{}
	causes := map[string]*ErrorCause{}
	var (
		sync                     string
		proc, cause, example     *string
		n                        int64
		since, nextRetry         *time.Time
		due, confirmed, unsubbed *int64
	)
	if s.Columns["brevo_confirmed_at"] {
		rep.Webhooks.ConfirmedContacts = new(int64)
	}
	if s.Columns["brevo_unsubscribed_at"] {
		rep.Webhooks.UnsubscribedContacts = new(int64)
	}
	_, err = pgx.ForEachRow(rows, []any{&sync, &proc, &cause, &n, &example, &since, &due, &nextRetry, &confirmed, &unsubbed}, func() error {
		st, _ := schema.Lookup(sync, proc)
		name := st.Name
		k := pair{sync, ""}
		if proc != nil {
			k.proc = *proc
		}
		sc := states[k]
		if sc == nil {
			sc = &StateCount{Name: name, SyncStatus: sync}
			if proc != nil { // pgx may reuse proc's target: copy
				p := *proc
				sc.ProcessingStatus = &p
			}
			states[k] = sc
		}
		sc.Count += n
		rep.Total += n

		if since != nil && schema.Unfinished(sync, proc) &&
			(rep.OldestWaiting == nil || since.Before(rep.OldestWaiting.Since)) {
			rep.OldestWaiting = &OldestWaiting{Since: since.UTC(), State: name}
		}
		if st == schema.RetryScheduled {
			rep.Retries.Scheduled += n
			if due != nil {
				rep.Retries.Due = addTo(rep.Retries.Due, *due)
			}
			if nextRetry != nil && (rep.Retries.NextAt == nil || nextRetry.Before(*rep.Retries.NextAt)) {
				t := nextRetry.UTC()
				rep.Retries.NextAt = &t
			}
		}
		if cause != nil {
			c := causes[*cause]
			if c == nil {
				c = &ErrorCause{Cause: *cause, States: map[string]int64{}}
				causes[*cause] = c
			}
			c.Count += n
			c.States[name] += n
			if example != nil && (c.Example == "" || *example < c.Example) {
				c.Example = *example
			}
			rep.ContactsWithError += n
		}
		if confirmed != nil {
			*rep.Webhooks.ConfirmedContacts += *confirmed
		}
		if unsubbed != nil {
			*rep.Webhooks.UnsubscribedContacts += *unsubbed
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("count contacts: %w", err)
	}
	if s.Columns["brevo_next_retry_at"] && rep.Retries.Due == nil {
		rep.Retries.Due = new(int64)
	}
	if rep.OldestWaiting != nil {
		rep.OldestWaiting.AgeSeconds = max(0, s.Now.Sub(rep.OldestWaiting.Since).Seconds())
	}

	for _, ns := range schema.Named {
		k := pair{ns.Sync, ns.Proc}
		if sc := states[k]; sc != nil {
			rep.States = append(rep.States, *sc)
			delete(states, k)
			continue
		}
		rep.States = append(rep.States, StateCount{Name: ns.Name, SyncStatus: ns.Sync, ProcessingStatus: nullable(ns.Proc)})
	}
	others := make([]StateCount, 0, len(states))
	for _, sc := range states {
		others = append(others, *sc)
	}
	slices.SortFunc(others, func(a, b StateCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Name, b.Name))
	})
	rep.States = append(rep.States, others...)

	for _, c := range causes {
		rep.Errors = append(rep.Errors, *c)
	}
	slices.SortFunc(rep.Errors, func(a, b ErrorCause) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Cause, b.Cause))
	})
	if len(rep.Errors) > 10 {
		rep.Errors = rep.Errors[:10]
	}
	return nil
}

func addTo(p *int64, n int64) *int64 {
	if p == nil {
		p = new(int64)
	}
	*p += n
	return p
}
