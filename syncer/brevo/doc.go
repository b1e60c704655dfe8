// Package brevo is a small client for the parts of Brevo's REST API v3 that
// brevosync uses: upserting a contact, probing the API key, and listing and
// creating contact attributes.
//
// # Requests
//
// Every request carries the api-key, accept and user-agent headers; requests
// with a body are JSON. [Client.UpsertContact] sends
// POST /contacts with "updateEnabled": true, so a new email creates a contact
// (201, with Brevo's id) and a known one updates it (204). It never sends
// emailBlacklisted or smsBlacklisted: an upsert must not re-subscribe a
// contact who unsubscribed.
//
// # Errors
//
// A non-2xx answer is an [*APIError] carrying Brevo's code and message, the
// rate-limit reset and the request id. Anything else (a refused or dropped
// connection, a timeout, a malformed 2xx body, a cancelled context) is
// returned wrapped with the operation, never as an APIError.
//
// [Classify] maps any error to the [Class] that decides a contact's fate:
//
//	Temporary     5xx, 408, 425, transport errors, timeouts   retry with backoff
//	Permanent     other 4xx (invalid email or phone, ...)     fail now
//	RateLimited   429                                         wait RateLimitReset, no attempt charged
//	Unauthorized  401, 402, 403                               pause sending, fail nobody
//
// The client holds no state besides its configuration and HTTP client and is
// safe for concurrent use.
package brevo
