package syncer

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	schema "github.com/brevosync/brevosync/sql"
)

// Result names what became of one claimed contact. It labels metrics and logs.
type Result string

// The results of one attempt.
const (
	// ResultComplete: Brevo has the contact (Complete/Complete).
	ResultComplete Result = "complete"
	// ResultRetry: a temporary failure; a retry is scheduled (Queued/Error).
	ResultRetry Result = "retry"
	// ResultFailed: Brevo rejected the contact, or retries ran out (Error/Error).
	ResultFailed Result = "failed"
	// ResultReleased: the claim was handed back without charging an attempt
	// (rate limit, paused credentials, shutdown).
	ResultReleased Result = "released"
)

// The error texts written on rows (brevo_processing_error): a prefix saying
// what the syncer did, then the cause as the CRM gave it. `status` groups
// errors by cause with CausePrefix, built from these: reword them here and
// it follows.
const (
	textRejected = "rejected by %s: %s"
	textGaveUp   = "gave up after %d attempts: %s"
	textRetrying = "attempt %d failed, retrying: %s"
)

// CausePrefix is a regular expression (valid in Go and in Postgres) that
// matches the prefix the syncer writes before an error's cause, so that
// the cause alone is left when it is removed.
var CausePrefix = causePrefix(textRejected, textGaveUp, textRetrying)

// causePrefix turns the texts' formats, up to their final ": %s", into one
// anchored alternation: %d matches digits, %s anything but a colon.
func causePrefix(formats ...string) string {
	alts := make([]string, len(formats))
	for i, f := range formats {
		f = strings.TrimSuffix(f, ": %s")
		f = regexp.QuoteMeta(f)
		f = strings.ReplaceAll(f, "%d", "[0-9]+")
		alts[i] = strings.ReplaceAll(f, "%s", "[^:]+")
	}
	return "^(" + strings.Join(alts, "|") + "): "
}

// outcome is the row's next state after one claim, as the finalizer writes it.
type outcome struct {
	id, token string
	result    Result
	state     schema.State
	err       string // brevo_processing_error; ignored when keepErr
	keepErr   bool
	retries   int           // brevo_retry_count
	delay     time.Duration // brevo_next_retry_at = now() + delay; < 0 means NULL
	brevoID   string        // brevo_contact_id when Brevo returned one, else ""
	note      string        // brevo_sync_note on success
	sentEmail string        // brevo_synced_email on success: the email the CRM has

	contact Contact // for logs and metrics
}

func complete(c Contact, token string, sent Sent, sentEmail string) outcome {
	return outcome{id: c.ID, token: token, contact: c, result: ResultComplete,
		state: statesOf(c.Kind).done, retries: c.RetryCount, delay: -1, brevoID: sent.ID, note: sent.Note,
		sentEmail: sentEmail}
}

// failure applies the retry policy to a failed attempt of c: Failed, or a
// retry scheduled.
func failure(p RetryPolicy, crm string, c Contact, token string, err error) outcome {
	o := outcome{id: c.ID, token: token, contact: c, retries: c.RetryCount + 1, delay: -1}
	attempt, kind := c.RetryCount+1, KindOf(err)
	states := statesOf(c.Kind)
	switch {
	case kind == Rejected:
		o.result, o.state = ResultFailed, states.failed
		o.err = fmt.Sprintf(textRejected, crm, err)
	case p.GivesUp(attempt, kind):
		o.result, o.state = ResultFailed, states.failed
		o.err = fmt.Sprintf(textGaveUp, attempt, err)
	default:
		o.result, o.state = ResultRetry, states.retry
		o.delay = p.Delay(c.RetryCount)
		o.err = fmt.Sprintf(textRetrying, attempt, err)
	}
	return o
}

// release hands the claim back without charging an attempt; the row becomes
// claimable again after delay (0: at once).
func release(c Contact, token string, delay time.Duration) outcome {
	states := statesOf(c.Kind)
	o := outcome{id: c.ID, token: token, contact: c, result: ResultReleased,
		state: states.released, keepErr: true, retries: c.RetryCount, delay: delay}
	if c.RetryCount > 0 {
		o.state = states.retry // still a retry of an earlier failure
	}
	if delay <= 0 {
		o.delay = -1
	}
	return o
}
