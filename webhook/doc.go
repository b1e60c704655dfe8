// Package webhook is the HTTP side of `brevosync serve`: it receives
// Brevo's contact webhooks and serves /healthz, /readyz and /metrics.
//
// # Routes
//
//	POST /webhooks/brevo  Brevo webhook events
//	GET  /healthz         200 "ok" while the process runs
//	GET  /readyz          200 when Config.Ready returns nil, else 503 {"error": reason}
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
// naming several contacts.
//
// # Guarantees
//
//   - Durable before 2xx: every event of a delivery is inserted into
//     brevosync_webhook_events, and its effect applied to contacts, in one
//     transaction that commits before the handler answers 200. One row is
//     stored per contact the event names (one row with a NULL email when it
//     names none), recording the effect it had (Effect* constants).
//   - Duplicates once: Brevo sends no event id, so an event's dedupe key is
//     the SHA-256 of its JSON re-marshalled canonically (sorted keys, no
//     white space, numbers as written); see Event.Key. A redelivery has the
//     same key, is stored once (INSERT … ON CONFLICT DO NOTHING on a UNIQUE
//     constraint) and its effect is applied only when its row is inserted,
//     so a redelivered contact_updated does not move brevo_confirmed_at.
//     Two genuinely distinct events with identical content (same "ts",
//     which has one-second resolution) are also stored once; they would
//     have had the same effect.
//   - Effects, on every contact whose lower(email) matches:
//     list_addition and contact_updated set brevo_confirmed_at (and, for a
//     contact_updated item with "emailBlacklist": true,
//     brevo_unsubscribed_at); unsubscribed/unsubscribe set
//     brevo_unsubscribed_at; contact_deleted resets the contact to
//     brevo_sync_status 'New' with no processing status, contact id or
//     confirmation (brevo_synced_at and brevo_unsubscribed_at stay as
//     history) — unless a request is waiting or in flight (Selected,
//     Queued, Processing), whose sync state is left alone so the request
//     still runs. Other events, and emails no contact has, are stored with
//     no effect and answered 200.
//   - A batch costs one transaction and one pipelined round trip for all its
//     statements, which run in order, so a batch's events apply in the
//     order Brevo sent them.
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
// # Errors
//
// 400 malformed, 401 credentials, 403 source address, 405 method, 413 too
// large, 429 storage failure, 503 not configured. Error bodies are
// {"error": "<short text>"}; the details go to the log only. A panic is
// recovered (500) and logged with its stack.
//
// # Metrics
//
// brevosync_webhook_events_total{event, result}, brevosync_webhook_requests_total{code}
// and brevosync_webhook_request_duration_seconds, registered on
// Config.Registerer.
package webhook
