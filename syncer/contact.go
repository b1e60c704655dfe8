package syncer

import "time"

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

	// RetryCount is the number of failed attempts of the current request
	// before this one.
	RetryCount int
	// RequestedAt is when the application selected the contact (set by the
	// trigger); zero for rows selected before brevosync was installed.
	RequestedAt time.Time
}
