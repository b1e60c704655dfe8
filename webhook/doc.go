// Package webhook is the HTTP side of `brevosync serve`: it receives
// Brevo's contact webhooks and serves /healthz, /readyz and /metrics.
//
// # Routes
//
//	POST /webhooks/brevo  Brevo webhook events
//	GET  /healthz         200 "ok" while the process runs
//	GET  /readyz          200 "ok" (and Config.ReadyNote's note) when Config.Ready returns nil, else 503 {"error": reason}
//	GET  /metrics         Config.Metrics (404 when nil)
//
// # Authentication
//
// Config.Token (BREVO_WEBHOOK_TOKEN) is accepted as "Authorization: Bearer
// <token>" (the webhook's auth option in Brevo) or as the password of HTTP
// Basic auth with any user name (https://user:token@host/webhooks/brevo).
// It is compared in constant time; anything else is 401. Without a token
// the endpoint answers 503. Config.AllowedCIDRs optionally restricts source
// addresses (403 otherwise); Brevo publishes 1.179.112.0/20 and
// 172.246.240.0/20 but warns they may change. Behind a reverse proxy list it
// in Config.TrustedProxies: X-Forwarded-For is believed only from those.
//
// # Payloads
//
// The body is one event object or a JSON array of them (a batched webhook,
// up to 500 events per delivery, at most Config.MaxBodyBytes, 1 MiB by
// default). See ParseEvents. contact_updated is read in both shapes Brevo
// has used: a top-level "email" (as documented) and "content": [{"email":
// …, "emailBlacklist": true, …}] items (as observed), one event possibly
// naming many contacts.
//
// # Guarantees
//
//   - Durable before 2xx: every event of a delivery is inserted into
//     brevosync_webhook_events, and its effect applied to contacts, in one
//     transaction that commits before the handler answers 200.
//   - Stored once: one row per event, however many contacts it names. The
//     row holds the event as received (payload), the keys of every contact
//     it names (emails, in payload order; email is the first, for
//     display) and the effect it had as a whole (Effect* constants:
//     unknown_email when no contact has any email it names). Rows stored
//     before sql/00010 are kept as they were, one per contact.
//   - Duplicates once: Brevo sends no event id, so an event's dedupe key is
//     the SHA-256 of its JSON re-marshalled canonically (sorted keys, no
//     white space, numbers as written); see Event.Key. A redelivery has the
//     same key, is stored once (INSERT … ON CONFLICT DO NOTHING on a UNIQUE
//     constraint) and its effect is applied only when its row is inserted,
//     so a redelivered contact_updated does not move brevo_confirmed_at.
//     Two genuinely distinct events with identical content (same "ts",
//     which has one-second resolution) are also stored once; they would
//     have had the same effect. This holds while the first copy is kept:
//     see Retention.
//   - One email key: contacts are matched, and emails stored, by the one
//     normalization of package schema (schema.NormalizeEmail in Go,
//     schema.EmailKey in SQL: trimmed, A-Z lowered, other letters as they
//     are), through the index contacts_brevo_email_key_idx.
//   - Effects, set-wise: each event is one statement that stores it and
//     updates every contact matching any email it names (email key =
//     ANY(emails)). list_addition and contact_updated set
//     brevo_confirmed_at, and a contact_updated item with "emailBlacklist":
//     true also sets brevo_unsubscribed_at (the event's effect is then
//     unsubscribed); unsubscribed/unsubscribe set brevo_unsubscribed_at;
//     contact_deleted resets the contact to brevo_sync_status 'New' with no
//     processing status, contact id or confirmation (brevo_synced_at and
//     brevo_unsubscribed_at stay as history), unless a request is waiting
//     or in flight (schema.UnfinishedWhere), whose sync state is left alone
//     so the request still runs. Other events, and emails no contact has,
//     are stored with no effect and answered 200.
//   - A delivery costs one transaction and one pipelined round trip for
//     all its statements, which run in order, so a batch's events apply in
//     the order Brevo sent them. Its cost is linear in its size: an event
//     naming 5,000 contacts is stored in about 0.1 s, 20,000 in about
//     0.25 s.
//   - Deliveries are stored one at a time: first in the process (a turn
//     waited for, within the request's deadline, before a database
//     connection is taken, so deliveries hold at most one of the pool's
//     connections and /readyz never queues behind them), then across
//     replicas (a transaction-scoped advisory lock).
//   - Failure: when the database cannot store the events (connection
//     refused, timeout, …) nothing is stored or applied and the answer is
//     429 with Retry-After: 60. Brevo retries a delivery on 429 and on
//     timeouts (4 retries, from 10 minutes to 8 hours apart) but discards
//     it on any other 4xx and, by its current documentation, on 5xx, so
//     5xx is never used for a storage failure. Bodies that can never be
//     stored are 400: malformed JSON, a value that is not an object or an
//     array of objects, an event without an "event" name, a NUL character,
//     or a value Postgres refuses (SQLSTATE classes 22 and 54).
//
// # Caps
//
// A delivery may hold at most Config.MaxEvents events (DefaultMaxEvents,
// 1,000: twice Brevo's largest batch) naming at most Config.MaxEmails
// contacts in all (DefaultMaxEmails, 20,000, about 0.25 s of work; the
// 1 MiB body limit alone would allow some 45,000). Beyond, the delivery is
// refused as a whole with 413 and {"error": "too many events in one
// delivery"} or "too many contacts named in one delivery", nothing stored,
// and logged at Error. 413 rather than 429 because the same delivery would
// be refused again: Brevo discards a delivery answered with a 4xx other
// than 429, where 429 would have it redelivered four more times over eleven
// hours, each refused, and other deliveries behind it. A delivery within
// the caps takes well under the 15 s store deadline, so it is never
// turned into a 429 by its own size, and memory stays proportional to the
// body (bounded by Config.MaxBodyBytes), never to events × contacts.
//
// # Retention
//
// Events are kept until the caller prunes them: PruneEvents deletes those
// received before a cut-off (at least MinRetention, 12 hours, beyond
// Brevo's redelivery window of about 11 hours, so a late redelivery is
// still recognized), in bounded batches; the syncer's sweep calls it on one
// replica at a time with the configured retention. RecentEvents reads a
// contact's events for the operator console.
//
// # HTTP server
//
// NewServer (and NewServerWithConfig) caps the connections kept open
// (ServerConfig.MaxConns, DefaultMaxConns 1,024) and closes idle ones after
// ServerConfig.IdleTimeout (DefaultIdleTimeout 30 s). At the cap a new
// connection closes the one quiet longest (idle, or not yet sent a
// request) instead of being refused, so /healthz and Brevo still get in
// under a flood of idle connections; only when every connection is busy
// is the new one closed. RaiseFileLimit raises the soft open-file limit to
// the hard one and reports both, for `serve` to call at start.
//
// # Errors
//
// 400 malformed, 401 credentials, 403 source address, 405 method, 413 too
// large or over a cap, 429 storage failure, 503 not configured. Error
// bodies are {"error": "<short text>"}; the details go to the log only,
// and never any part of the credentials a request carried (an
// Authorization header is logged as a known scheme name and lengths at
// most, however malformed). A panic is recovered (500) and logged with
// its stack.
//
// # Metrics
//
// brevosync_webhook_events_total{event, result}, brevosync_webhook_requests_total{code}
// and brevosync_webhook_request_duration_seconds, registered on
// Config.Registerer.
package webhook
