// Package syncer moves selected contacts from Postgres to a CRM (Brevo, by
// its adapter syncer/brevo) and writes the outcome back on each row. It
// knows the states (package schema) and the CRM seam (CRM, Error and its
// kinds), not Brevo.
//
// # Where things are
//
//	syncer.go   Syncer, Config, defaults, Run: the stages of a run
//	claim.go    the claim loop: when to claim, how much
//	send.go     one attempt of one contact; the credentials prober
//	budget.go   the rate limit and the pauses a CRM imposes (429, 401)
//	finalize.go outcomes written in batches, guarded by claim tokens
//	sweep.go    the fallback sweep and the replica's heartbeat
//	store.go    the SQL of all of the above
//	crm.go      the seam: what a CRM must do, the error kinds it reports
//	policy.go   the retry policy
//	outcome.go  results, row states and the error texts written on rows
//
// The operator's operations (select, retry, status) are in syncer/operator.
//
// # The path of a contact
//
// The application selects a contact (brevo_sync_status='Selected',
// brevo_processing_status='Queued'); the request trigger starts the request
// fresh and issues NOTIFY; the listener calls Wake. The claim loop then, in
// one short statement, takes due rows with FOR UPDATE SKIP LOCKED, marks
// them Processing under a random claim token and a lease (brevo_lease_until),
// and commits. No transaction is open while Brevo is called. Each claimed
// contact is sent by its own goroutine, at most Concurrency at once and at
// most this replica's share of RateLimit per second, through the CRM's
// Upsert. Outcomes are written in
// batches by one finalizer, each guarded by its claim token: a row that was
// withdrawn (set back to New), selected again, or taken back after its lease
// expired is not overwritten.
//
// # Outcomes (contract §2), by the kind of the CRM's answer
//
//   - Success: Complete/Complete, brevo_synced_at, the CRM's id.
//   - Rejected (Brevo: 400 and other client errors): Failed (Error/Error) at
//     once.
//   - Retryable (5xx, timeouts, dropped connections): a retry is scheduled
//     (Queued/Error, brevo_retry_count+1, brevo_next_retry_at by the
//     RetryPolicy: base·2^n or base·(n+1), plus up to 10% jitter); after
//     MaxRetries retries, Failed.
//   - RateLimited (429): the claim is handed back, due when the CRM says
//     (Brevo's x-sib-ratelimit-reset), and this process stops sending until
//     then. Not counted.
//   - Unauthorized (401/402/403): sending pauses, one error is logged, the
//     claim is handed back and the CRM is probed (Brevo: GET /account) until
//     the key works; then sending resumes. Nobody is failed and nothing is
//     counted.
//
// # Guarantees
//
// Delivery to Brevo is at least once: a contact is sent again when its
// outcome could not be recorded (a crash between Brevo's answer and the
// write, a lease that expired, a shutdown that cut a request short). The
// CRM's upsert must be idempotent by email, so a repeat only rewrites the
// same attributes. A contact is never lost: NOTIFY is a hint, the row is the
// queue, and the claim loop also runs at start, on every listener
// (re)connect, at the earliest due retry or lease expiry (a timer), and on
// every fallback sweep. Only rows that are Selected/Queued when claimed are
// sent, so a withdrawn contact is never sent.
//
// The fallback sweep's heavy part (taking back expired claims, counting what
// is due) runs on one replica at a time under a transaction-level advisory
// lock. Replicas share RateLimit equally, counting each other through the
// brevosync_nodes table.
package syncer
