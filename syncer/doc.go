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
// and the bulk path (below, "Large backlogs"):
//
//	importer.go      the seam's bulk half: Importer
//	import.go        its settings, the driver's lease, claiming backlogs
//	import_run.go    submitting and following imports, their outcomes
//	import_calls.go  pacing and failures of its requests, notifyUrl, the
//	                 per-contact fallback
//	import_ids.go    the CRM's ids of imported contacts
//	import_store.go, import_state.go  their SQL
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
// # Large backlogs
//
// When Config.Import.Threshold is set and the CRM is an Importer (Brevo:
// with at least one list), a due backlog of Threshold contacts or more goes
// through the CRM's import instead of one upsert each: at 10 requests a
// second the per-contact path moves 36,000 contacts an hour, one Brevo
// import takes some 30,000 (8 MB) in one request.
//
// One replica drives the imports: the one holding the driver's lease
// (brevosync_import_state, renewed every third of Lease; another replica
// takes over within a Lease of its death). Brevo asks for one import at a
// time per account: the driver runs them one after the other, and a unique
// index on the jobs in Brevo makes two at once impossible.
//
// Where claims live. The driver claims the whole due backlog at once, in
// chunks of what one import carries (the encoded body, measured, stays
// under the CRM's limit), each chunk into an import job (brevosync_imports)
// in the same statement. A job's contacts are Processing under its claim
// token with a day-long safety lease: the job holds them, not a lease that
// would need renewing for the minutes an import takes, and the sweep
// leaves them alone. A driver that dies leaves its jobs to the next, which
// goes on from each job's state: it submits a pending job and follows a
// submitted one's process to its end, never importing that chunk again.
// Only a job that died between its request and the recording of the CRM's
// process id is submitted again (at least once, as everywhere).
//
// Why single selections stay fast. Because the driver claims the whole
// backlog that was due when it counted it, the per-contact claim finds only
// requests made since: a single selection is claimed at once and sent
// sharing the rate limit with the imports, never queued behind the backlog.
// The alternative, a per-contact claim that serves the newest first while
// an import runs, would change the per-contact claim's order for everyone
// (due retries would starve behind a stream of selections) and still send
// part of the backlog one by one. What the per-contact path took before the
// driver claimed the backlog (about two seconds' worth at the rate limit)
// it sends as usual: a selection made in those first seconds waits behind
// that, and only that.
//
// Tracking. Without a public URL the driver polls the import's process:
// first when it should be done at the speed seen so far, then backing off.
// With Config.Import.PublicURL each import carries a notifyUrl with a
// secret of its own (ImportNotified, called by the webhook receiver,
// compares it in constant time and NOTIFYs every replica) and the process
// is read once, after the call; polls are only a fallback, from two
// minutes on. Process reads spend a budget kept in the database and shared
// by every replica, at most ProcessesPerHour in any hour (Brevo allows 100
// on /v3/processes); a 429 there holds every replica for the reset the CRM
// gives. Every other request of the bulk path (the import itself, the
// contact list) waits on the Pacer, as upserts do: one rate limit for all.
//
// Outcomes. Contacts whose email cannot be valid are failed before any
// request. A completed import makes its contacts Complete through the
// finalizer's token-guarded statement; those its reports reject (invalid
// email, duplicate identifier) are Failed naming the report. When a report
// cannot be read, the contacts it could name (for a duplicate phone number
// report, only those sent with one) are sent again one by one rather than
// guessed. A failed, cancelled, unknown or timed-out process
// (Config.Import.Timeout) retries its contacts under the retry policy; an
// import the CRM refuses as a whole sends its contacts one by one and turns
// imports off for Config.Import.Cooldown.
//
// Ids. An import returns no ids: the driver lists the contacts the CRM
// modified since the first import waiting for them (1,000 a page, at the
// Pacer's rate) and fills brevo_contact_id where it is NULL, so that the
// rows look like upserted ones. Until then it stays NULL (contract §5).
//
// The fallback sweep's heavy part (taking back expired claims, counting what
// is due) runs on one replica at a time under a transaction-level advisory
// lock. Replicas share RateLimit equally, counting each other through the
// brevosync_nodes table.
package syncer
