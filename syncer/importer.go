package syncer

import (
	"context"
	"time"
)

// Importer is the bulk half of the CRM seam: a CRM that can also take many
// contacts in one request, processed in the background (Brevo's contact
// import). A CRM that implements it gets large backlogs this way when
// Config.Import.Threshold is set; see the package documentation, "Large
// backlogs".
//
// Each method that calls the CRM makes one request. The syncer pays for it
// before the call: StartImport and ContactIDs from the Pacer's rate limit,
// ImportStatus from the processes budget it keeps in the database.
// ImportRejections downloads reports, which no rate limit counts.
type Importer interface {
	// ImportReady reports why imports cannot be used with the CRM's
	// configuration (Brevo: an import needs at least one list); nil when
	// they can.
	ImportReady() error
	// CheckImport returns a Rejected *Error when c cannot be imported at
	// all (an email address that cannot be valid): the syncer fails it
	// before any request. Nil when c may be sent.
	CheckImport(c Contact) error
	// MaxImportBytes is the CRM's limit on the size of an import
	// request's body.
	MaxImportBytes() int
	// FitImport reports how many of contacts, from the first, one import
	// with notifyURL carries within MaxImportBytes,
	// and the size in bytes of that request's body.
	FitImport(contacts []Contact, notifyURL string) (n, bytes int)
	// StartImport submits contacts (one per email, all of them fitting, see
	// FitImport) as one import, updating existing contacts and never
	// changing their blocklisting. notifyURL, when not empty, is called by
	// the CRM once the import has ended. It returns the CRM's process id.
	// Failures are *Error, as Upsert's.
	StartImport(ctx context.Context, contacts []Contact, notifyURL string) (process string, err error)
	// ImportStatus reads the import's process.
	ImportStatus(ctx context.Context, process string) (ImportStatus, error)
	// ImportRejections reads a completed import's reports and says which
	// of contacts (the ones it carried) it rejected, and whose fate the
	// reports cannot tell because one of them could not be read. It never
	// guesses: a contact is Unknown unless every report that could name it
	// was read.
	ImportRejections(ctx context.Context, st ImportStatus, contacts []Contact) ImportReport
	// ContactIDs reads one page of the CRM's contacts modified since
	// cursor.Since, oldest first, from cursor.Offset.
	ContactIDs(ctx context.Context, cursor IDCursor) (IDPage, error)
}

// ImportState is where an import's process is.
type ImportState int

// The states of an import's process.
const (
	// ImportRunning: queued or in process.
	ImportRunning ImportState = iota
	// ImportCompleted: done; its reports say which contacts it rejected.
	ImportCompleted
	// ImportFailed: failed or cancelled; no contact was imported, or not
	// all. The syncer retries the chunk under the retry policy.
	ImportFailed
)

// ImportStatus is what the CRM says about an import's process.
type ImportStatus struct {
	State ImportState
	// Status is the CRM's own word for it (Brevo: queued, in_process,
	// completed, failed, cancelled), for logs and error texts.
	Status string
	// Reports are a completed import's reports of rejected contacts, by
	// name (Brevo: invalid_emails, duplicate_phone_id, ...), as URLs.
	Reports map[string]string
}

// ImportReport is what a completed import did not import, by email key
// (schema.NormalizeEmail).
type ImportReport struct {
	// Rejected are the contacts the import refused, with the cause as a
	// row shows it after "rejected by <CRM>: ".
	Rejected map[string]string
	// Unknown are the contacts a report that could not be read may name:
	// the syncer sends them again one by one rather than guess.
	Unknown map[string]bool
}

// IDCursor is a position in the CRM's list of recently modified contacts,
// oldest first.
type IDCursor struct {
	// Since is the earliest modification time listed (inclusive).
	Since time.Time
	// Offset is how many of the contacts modified since Since were listed
	// already.
	Offset int
}

// IDPage is one page of ContactIDs.
type IDPage struct {
	// IDs are the CRM's ids of the page's contacts, by email key.
	IDs map[string]string
	// Next is the cursor of the following page.
	Next IDCursor
	// Last is true when the page was the list's last: nothing modified
	// later remained.
	Last bool
	// LastModified is the latest modification time on the page (zero
	// when it was empty), and AtLast how many of its contacts have it.
	LastModified time.Time
	AtLast       int
}
