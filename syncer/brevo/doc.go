// Package brevo is Brevo as the syncer's CRM: a small client for the parts
// of Brevo's REST API v3 that brevosync uses (upserting a contact, probing
// the API key, listing and creating contact attributes), the mapping from a
// contacts row to a Brevo contact, and [CRM], which implements syncer.CRM.
//
//	client.go      Client: requests, headers, rate-limit headers
//	contacts.go    the contact and attribute endpoints
//	errors.go      APIError, and Classify into the syncer's error kinds
//	mapping.go     ToContact and MappedAttributes: change the mapping here
//	attributes.go  the account's attributes against the mapping
//	crm.go         CRM, the adapter the syncer is given
//	imports.go     CRM as the syncer's Importer: the contact import, processes
//	reports.go     an import's reports, the modified-contacts list (ids)
//
// Its simulator, for tests, demo and bench, is brevo/brevotest.
//
// # Requests
//
// Every request carries the api-key, accept and user-agent headers; requests
// with a body are JSON. [Client.UpsertContact] sends
// POST /contacts with "updateEnabled": true, so a new email creates a contact
// (201, with Brevo's id) and a known one updates it (204). It never sends
// emailBlacklisted or smsBlacklisted: an upsert must not re-subscribe a
// contact who unsubscribed. [CRM.StartImport] sends POST /contacts/import
// with the same mapping and lists, "updateExistingContacts": true,
// "emptyContactsAttributes": false and no emailBlacklist or smsBlacklist,
// within DefaultMaxImportBytes; report links are fetched without the key.
//
// # Errors
//
// A non-2xx answer is an [*APIError] carrying Brevo's code and message, the
// rate-limit reset and the request id. Anything else (a refused or dropped
// connection, a timeout, a malformed 2xx body, a cancelled context) is
// returned wrapped with the operation, never as an APIError.
//
// [Classify] maps any error to the syncer's kind that decides a contact's
// fate:
//
//	Retryable     5xx, 408, 425, transport errors, timeouts   retry with backoff
//	Rejected      other 4xx (invalid email or phone, ...)     fail now
//	RateLimited   429                                         wait RateLimitReset, no attempt charged
//	Unauthorized  401, 402, 403                               pause sending, fail nobody
//
// The client holds no state besides its configuration and HTTP client and is
// safe for concurrent use.
package brevo
