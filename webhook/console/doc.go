// Package console is the operator API and the web console of `brevosync
// serve` (contract §6, "Operator API and console"): a JSON API over package
// operator, and a page over that API. New returns its handler; it is
// mounted beside the webhook handler.
//
// # Routes
//
//	GET  /                        302 to /ui/
//	GET  /ui/                     the console page (index.html, app.js, style.css)
//	GET  /api/v1/status           the `status --json` object, plus "live" (Config.Live; null without it)
//	POST /api/v1/select           {"ids": […]} and/or {"emails": […]} → {"selected", "already_waiting", "unknown": […]}
//	POST /api/v1/unselect         same body → {"unselected", "unknown": […]}
//	POST /api/v1/retry            {"ids": […]} or {"all": true} → {"retried"}
//	GET  /api/v1/failures         ?cause= (a cause as the status report gives it), ?limit= (1–10000, default 100)
//	                              → {"failures": [{id, email, state, sync_status, processing_status,
//	                                error, cause, retry_count, failed_at}], "more"}
//	GET  /api/v1/contacts/{id}    {id, email, state, columns: {every brevo_* column}, events: […]}
//	POST /api/v1/credentials/test → {"ok", "account", "error"} (Config.Probe)
//	GET  /api/v1/config           Config.Settings(), redacted by the caller
//
// Anything else under /api/ is 404 and a wrong method 405, both JSON.
//
// # Access
//
//   - Disabled without a token: when Config.Token (BREVO_SYNC_ADMIN_TOKEN)
//     is empty, every route but GET / answers 503 with a JSON body saying
//     how to enable it.
//   - The token arrives as "Authorization: Bearer <token>" or as the
//     password of HTTP Basic auth (any user name); anything else is 401
//     with WWW-Authenticate: Basic realm="brevosync console", which makes a
//     browser ask for it. Both sides are hashed, then compared in constant
//     time. The token is never taken from a URL and never logged; refusals
//     are logged with a reason that holds no part of the header.
//     Authentication comes before routing: a stranger learns no route.
//   - Cross-site requests cannot write: a POST needs Content-Type:
//     application/json (415 otherwise), which no cross-site form can send
//     and a cross-site script cannot without a CORS preflight, which is
//     never granted; http.CrossOriginProtection also refuses cross-origin
//     POSTs by their Sec-Fetch-Site and Origin headers (403).
//   - Every answer carries X-Content-Type-Options: nosniff, X-Frame-Options:
//     DENY, Referrer-Policy: no-referrer, Cache-Control: no-store and a
//     Content-Security-Policy that allows the page's own script and style
//     only (no inline script, no other origin, no framing).
//
// # Guarantees
//
//   - Bad input is 400 with a JSON body naming the field ("ids[3]",
//     "limit"); bodies over MaxBodyBytes are 413; at most MaxEntries ids
//     and emails per request.
//   - All or nothing: select, unselect and retry check every item first and
//     apply nothing when any is bad (the answer lists each bad item, up to
//     1,000, with invalid_count); what they apply is one transaction, so a
//     database error (500) leaves nothing applied.
//   - The writes are package operator's, the same the command line makes:
//     the application's selecting write (the trigger notifies the service)
//     and its unselect.
//   - The status report is shared: one is read at a time and served again
//     for a second, so any number of open pages (each polls every 2 s) cost
//     at most one pass over contacts a second. A write through the API
//     drops it, so the writer's page shows the write at once.
//   - The access log has GETs at Debug (the page polls) and the rest at
//     Info; each write is logged with its counts.
package console
