package syncer

import (
	"time"

	schema "github.com/brevosync/brevosync/sql"
)

// Contact is a claimed row: what the CRM is sent, plus the claim's
// bookkeeping. The CRM adapter maps it to the CRM's fields (for Brevo:
// syncer/brevo's mapping).
type Contact struct {
	ID          string
	Email       string
	Name        *string
	PhoneNumber *string
	DomainID    *string
	PageID      *string
	EmailType   *string
	SourceURL   *string
	HasGmail    *bool

	// Kind is what the claim is for.
	Kind Kind
	// BrevoID is the CRM's id of the contact, when known.
	BrevoID string
	// SyncedEmail is the email the CRM was last sent (normalized), when
	// known: an update whose Email differs changes the email in place.
	SyncedEmail string
	// Unsubscribed: the CRM reported an unsubscribe (brevo_unsubscribed_at).
	Unsubscribed bool

	// RetryCount is the number of failed attempts of the current request
	// before this one.
	RetryCount int
	// RequestedAt is when the application selected the contact (set by the
	// trigger); zero for rows selected before brevosync was installed.
	RequestedAt time.Time
}

// Kind is what a claim is for.
type Kind int

// The kinds of claim.
const (
	// KindRequest: the application's request; the contact is upserted.
	KindRequest Kind = iota
	// KindUpdate: the mirror; a synced contact's data changed and it is
	// upserted again.
	KindUpdate
	// KindEmailChange: the mirror; a synced contact's email changed and the
	// CRM's contact is updated in place (Mirror.ChangeEmail), so the CRM
	// never holds two contacts for one person.
	KindEmailChange
	// KindRemoval: the mirror; a synced contact was unselected and leaves
	// the lists (Mirror.Remove); the CRM's contact is kept.
	KindRemoval
)

// kindOf tells a claimed row's kind from its sync status (as the claim left
// it) and its emails.
func kindOf(sync string, c Contact) Kind {
	switch sync {
	case schema.RemovalPending.Sync:
		return KindRemoval
	case schema.UpdatePending.Sync:
		if c.SyncedEmail != "" && c.SyncedEmail != schema.NormalizeEmail(c.Email) {
			return KindEmailChange
		}
		return KindUpdate
	}
	return KindRequest
}

// kindStates are the states a claim of one kind ends in.
type kindStates struct {
	done, retry, failed, released schema.State
}

// statesOf returns the states of a kind: a request's retry and hand-back
// are Queued/Error and Queued; the mirror's keep the sync status (Complete,
// New) that tells the application what it asked for.
func statesOf(k Kind) kindStates {
	switch k {
	case KindUpdate, KindEmailChange:
		return kindStates{schema.Complete, schema.UpdatePending, schema.UpdateFailed, schema.UpdatePending}
	case KindRemoval:
		return kindStates{schema.New, schema.RemovalPending, schema.RemovalFailed, schema.RemovalPending}
	}
	return kindStates{schema.Complete, schema.RetryScheduled, schema.Failed, schema.Queued}
}
