package schema

import "strings"

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
	// Waiting: the application's request (Selected/Queued).
	Waiting = State{"Waiting", "Selected", "Queued"}
	// Released: a claim handed back without charging an attempt (a 429
	// wait, a paused key, a shutdown).
	Released = State{"Released (rate-limited wait)", "Queued", "Queued"}
	// Processing: claimed by a replica, under a lease.
	Processing = State{"Processing", "Processing", "Processing"}
	// RetryScheduled: a temporary failure, retried at brevo_next_retry_at.
	RetryScheduled = State{"Retry scheduled", "Queued", "Error"}
	// Complete: Brevo has the contact.
	Complete = State{"Complete", "Complete", "Complete"}
	// Failed: Brevo rejected the contact, or retries ran out.
	Failed = State{"Failed", "Error", "Error"}
	// Skipped: set by the application; brevosync leaves it alone.
	Skipped = State{"Skipped", "Skipped", ""}
)

// Named are the named states in display order.
var Named = []State{New, Waiting, Released, Processing, RetryScheduled, Complete, Failed, Skipped}

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
	for _, s := range []State{Waiting, Released, RetryScheduled, Processing} {
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

// SQL predicates over the contacts table's columns, unqualified. Each is
// written so that the planner can match it to the partial index that
// serves it (see 00001_contacts.sql).
var (
	// Claimable: waiting to be sent (a request, a scheduled retry or a
	// handed-back claim), due or not. Matches contacts_brevo_pending_idx.
	Claimable = "brevo_sync_status IN (" + quote(Waiting.Sync) + ", " + quote(Released.Sync) + ")" +
		" AND (" + Waiting.Is() + " OR (brevo_sync_status = " + quote(Released.Sync) +
		" AND brevo_processing_status IN (" + quote(Released.Proc) + ", " + quote(RetryScheduled.Proc) + ")))"
	// InFlight: claimed, under a lease. Matches contacts_brevo_lease_idx.
	InFlight = "brevo_sync_status = " + quote(Processing.Sync)
	// UnfinishedWhere: a request waiting or in flight (Unfinished in SQL);
	// false, never NULL.
	UnfinishedWhere = "coalesce((" + Claimable + ") OR " + InFlight + ", false)"
	// FailedWhere: Failed contacts, the ones `retry` revives.
	FailedWhere = Failed.Is()
	// RetryWhere: scheduled retries.
	RetryWhere = RetryScheduled.Is()
	// RequestSet is the application's selecting write: it makes a row a
	// fresh request (the trigger resets its retry bookkeeping and notifies).
	RequestSet = Waiting.Set()
	// DueAt is when a claimable row is due: a retry or a handed-back claim
	// at its brevo_next_retry_at, a fresh request at its selection time (so
	// retries and waits are not starved behind a large selection), rows
	// selected before brevosync existed at once. It is the key of
	// contacts_brevo_pending_idx.
	DueAt = "coalesce(brevo_next_retry_at, brevo_requested_at, '-infinity'::timestamptz)"
	// LeaseEnd is when a claim expires; rows stuck in Processing before
	// brevosync existed have no lease and count as expired. It is the key of
	// contacts_brevo_lease_idx.
	LeaseEnd = "coalesce(brevo_lease_until, '-infinity'::timestamptz)"
)

// Literal renders v (a state value) as an SQL string literal, for the
// statements that compare with or write a state computed in Go.
func Literal(v string) string { return quote(v) }
