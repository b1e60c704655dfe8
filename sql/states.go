package schema

import (
	"slices"
	"strings"
)

// State is one (brevo_sync_status, brevo_processing_status) pair of the
// contacts table, with the name operators see in `status` and the console.
// Proc "" stands for NULL.
//
// These values, and the SQL built from them below, are the only place Go
// code spells the states: change a state here and every statement follows.
type State struct {
	Name string
	Sync string // brevo_sync_status
	Proc string // brevo_processing_status; "" is NULL
}

// The states brevosync reads and writes (contract §2).
var (
	// New: never selected, or withdrawn, or deleted in Brevo.
	New = State{"New", "New", ""}
	// Waiting: the application's request from its UI (Selected/Queued).
	Waiting = State{"Waiting", "Selected", "Queued"}
	// Queued: a request queued by another writer of the application (its
	// DeBounce auto-queue), or a claim brevosync handed back without
	// charging an attempt (a 429 wait, a paused key, a shutdown).
	Queued = State{"Queued", "Queued", "Queued"}
	// Requeued: a Failed contact reset by the application's own SQL
	// (Error/Queued); a request like the others.
	Requeued = State{"Requeued", "Error", "Queued"}
	// Processing: claimed by a replica, under a lease.
	Processing = State{"Processing", "Processing", "Processing"}
	// Interrupted: claimed by the old scheduler, which never finished;
	// taken back within seconds of start.
	Interrupted = State{"Interrupted (taken back at start)", "Selected", "Processing"}
	// RetryScheduled: a temporary failure, retried at brevo_next_retry_at.
	RetryScheduled = State{"Retry scheduled", "Queued", "Error"}
	// Complete: Brevo has the contact.
	Complete = State{"Complete", "Complete", "Complete"}
	// Failed: Brevo rejected the contact, or retries ran out.
	Failed = State{"Failed", "Error", "Error"}
	// FailedEarlier: a request the old scheduler failed (Selected/Error);
	// counted Failed, and revived by `retry`.
	FailedEarlier = State{"Failed", "Selected", "Error"}
	// Skipped: set by the application; brevosync leaves it alone.
	Skipped = State{"Skipped", "Skipped", ""}

	// The mirror's states (contract §8): the sync status says what the
	// application asked for (Complete: in Brevo; New: not selected), the
	// processing status what brevosync is doing about it.

	// UpdatePending: a synced contact's mapped data changed; it is sent
	// again (also while a retry of that update is scheduled).
	UpdatePending = State{"Update pending", "Complete", "Queued"}
	// Updating: the update is claimed.
	Updating = State{"Updating", "Complete", "Processing"}
	// UpdateFailed: Brevo rejected the update, or its retries ran out; Brevo
	// has the contact as it was.
	UpdateFailed = State{"Update failed", "Complete", "Error"}
	// RemovalPending: a synced contact was unselected; it is taken out of
	// the BREVO_LIST_ID lists (the Brevo contact is kept).
	RemovalPending = State{"Removal pending", "New", "Queued"}
	// Removing: the removal is claimed.
	Removing = State{"Removing", "New", "Processing"}
	// RemovalFailed: the removal failed for good.
	RemovalFailed = State{"Removal failed", "New", "Error"}
)

// Named are the named states in display order. Two pairs share the name
// Failed.
var Named = []State{New, Waiting, Queued, Requeued, Processing, Interrupted, RetryScheduled,
	Complete, Failed, FailedEarlier, Skipped,
	UpdatePending, Updating, UpdateFailed, RemovalPending, Removing, RemovalFailed}

// Requests are the states of a request waiting to be claimed, written by
// the application (or handed back by brevosync).
var Requests = []State{Waiting, Queued, Requeued, RetryScheduled}

// Lookup returns the named state of a (sync, processing) pair; proc nil is
// NULL. For a pair with no name it returns a State named "sync/processing"
// and false.
func Lookup(sync string, proc *string) (State, bool) {
	p := ""
	if proc != nil {
		p = *proc
	}
	for _, s := range Named {
		if s.Sync == sync && s.Proc == p && (proc != nil) == (s.Proc != "") {
			return s, true
		}
	}
	return State{Name: RawPair(sync, proc), Sync: sync, Proc: p}, false
}

// RawPair renders a pair as "Sync/Proc", NULL as "NULL".
func RawPair(sync string, proc *string) string {
	if proc == nil {
		return sync + "/NULL"
	}
	return sync + "/" + *proc
}

// Unfinished reports whether a row in this pair holds a request that is not
// finished: waiting to be claimed or claimed.
func Unfinished(sync string, proc *string) bool {
	for _, s := range append(Requests, Processing, Interrupted) {
		if s.Sync == sync && proc != nil && s.Proc == *proc {
			return true
		}
	}
	return false
}

// quote renders a state value as an SQL literal.
func quote(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// Is is an SQL condition true for rows in s (columns unqualified).
func (s State) Is() string {
	proc := "brevo_processing_status IS NULL"
	if s.Proc != "" {
		proc = "brevo_processing_status = " + quote(s.Proc)
	}
	return "(brevo_sync_status = " + quote(s.Sync) + " AND " + proc + ")"
}

// Set is an SQL SET list that puts a row in s.
func (s State) Set() string {
	proc := "NULL"
	if s.Proc != "" {
		proc = quote(s.Proc)
	}
	return "brevo_sync_status = " + quote(s.Sync) + ", brevo_processing_status = " + proc
}

// in lists states' sync values as an SQL list: ('Selected', 'Queued').
func in(states ...State) string {
	var vals []string
	for _, s := range states {
		if v := quote(s.Sync); !slices.Contains(vals, v) {
			vals = append(vals, v)
		}
	}
	return "(" + strings.Join(vals, ", ") + ")"
}

// SQL predicates over the contacts table's columns, unqualified. Each is
// written so that the planner can match it to the partial index that
// serves it (see 00007_work_indexes.sql).
var (
	// WorkWhere: rows with work waiting to be claimed, due or not: the
	// predicate of contacts_brevo_work_idx, written as the migration writes
	// it.
	WorkWhere = "(brevo_processing_status = " + quote(Waiting.Proc) +
		" OR (brevo_sync_status = " + quote(RetryScheduled.Sync) + " AND brevo_processing_status = " + quote(RetryScheduled.Proc) + "))"
	// Claimable: a request waiting to be sent (Requests), due or not.
	Claimable = WorkWhere + " AND brevo_sync_status IN " + in(Requests...)
	// Pending: any work waiting to be claimed, due or not: a request, or
	// the mirror's update or removal.
	Pending = WorkWhere + " AND brevo_sync_status IN " + in(append(Requests, UpdatePending, RemovalPending)...)
	// Importable: work a CRM's bulk import may take: a request, or the
	// mirror's update of a contact whose email is unchanged (an email change
	// is made in place, one by one).
	Importable = WorkWhere + " AND (brevo_sync_status IN " + in(Requests...) +
		" OR (brevo_sync_status = " + quote(UpdatePending.Sync) +
		" AND (brevo_synced_email IS NULL OR brevo_synced_email = " + EmailKey("email") + ")))"
	// InFlight: claimed, under a lease (or, left by the old scheduler,
	// without one). The predicate of contacts_brevo_claims_idx.
	InFlight = "brevo_processing_status = " + quote(Processing.Proc)
	// UnfinishedWhere: a request waiting or in flight (Unfinished in SQL);
	// false, never NULL.
	UnfinishedWhere = "coalesce((" + Claimable + ") OR (brevo_sync_status IN " + in(Processing, Interrupted) +
		" AND " + InFlight + "), false)"
	// FailedWhere: Failed contacts, the ones `retry` revives (FailedEarlier
	// included).
	FailedWhere = "(brevo_processing_status = " + quote(Failed.Proc) + " AND brevo_sync_status IN " + in(Failed, FailedEarlier) + ")"
	// RetryWhere: scheduled retries.
	RetryWhere = RetryScheduled.Is()
	// RequestSet is the application's selecting write: it makes a row a
	// fresh request (the trigger resets its retry bookkeeping and notifies).
	RequestSet = Waiting.Set()
	// DueAt is when a waiting row is due: a retry or a handed-back claim at
	// its brevo_next_retry_at, a fresh request at its selection time (so
	// retries and waits are not starved behind a large selection), rows
	// selected before brevosync existed at once. It is the key of
	// contacts_brevo_work_idx.
	DueAt = "coalesce(brevo_next_retry_at, brevo_requested_at, '-infinity'::timestamptz)"
	// LeaseEnd is when a claim expires; rows stuck in Processing before
	// brevosync existed have no lease and count as expired. It is the key of
	// contacts_brevo_claims_idx.
	LeaseEnd = "coalesce(brevo_lease_until, '-infinity'::timestamptz)"
)

// Literal renders v (a state value) as an SQL string literal, for the
// statements that compare with or write a state computed in Go.
func Literal(v string) string { return quote(v) }
