package syncer

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/brevosync/brevosync/syncer/brevo"
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

// outcome is the row's next state after one claim, as the finalizer writes it.
type outcome struct {
	id, token string
	result    Result
	sync      string // brevo_sync_status
	proc      string // brevo_processing_status
	err       string // brevo_processing_error; ignored when keepErr
	keepErr   bool
	retries   int           // brevo_retry_count
	delay     time.Duration // brevo_next_retry_at = now() + delay; < 0 means NULL
	brevoID   string        // brevo_contact_id when Brevo returned one, else ""

	contact Contact // for logs and metrics
}

// retryPolicy turns failures into row states (contract §2).
type retryPolicy struct {
	maxRetries  int
	base        time.Duration
	linear      bool
	jitterRatio float64 // at most this fraction of the delay is added
}

// delay is the wait before retry n (n = 0, 1, 2, …): base·2^n, or base·(n+1)
// when linear, plus at most 10% jitter.
func (p retryPolicy) delay(n int) time.Duration {
	d := p.base
	if p.linear {
		d = p.base * time.Duration(n+1)
	} else {
		for i := 0; i < n && d < 365*24*time.Hour; i++ {
			d *= 2
		}
	}
	if j := int64(float64(d) * p.jitterRatio); j > 0 {
		d += time.Duration(rand.Int64N(j + 1))
	}
	return d
}

func complete(c Contact, token string, res brevo.UpsertResult) outcome {
	o := outcome{id: c.ID, token: token, contact: c, result: ResultComplete,
		sync: "Complete", proc: "Complete", retries: c.RetryCount, delay: -1}
	if res.ID > 0 {
		o.brevoID = strconv.FormatInt(res.ID, 10)
	}
	return o
}

// failure decides between a scheduled retry and Failed for a failed attempt.
func (p retryPolicy) failure(c Contact, token string, err error, permanent bool) outcome {
	o := outcome{id: c.ID, token: token, contact: c, retries: c.RetryCount + 1, delay: -1}
	switch {
	case permanent:
		o.result, o.sync, o.proc = ResultFailed, "Error", "Error"
		o.err = "rejected by Brevo: " + describe(err)
	case c.RetryCount >= p.maxRetries:
		o.result, o.sync, o.proc = ResultFailed, "Error", "Error"
		o.err = fmt.Sprintf("gave up after %d attempts: %s", c.RetryCount+1, describe(err))
	default:
		o.result, o.sync, o.proc = ResultRetry, "Queued", "Error"
		o.delay = p.delay(c.RetryCount)
		o.err = fmt.Sprintf("attempt %d failed, retrying: %s", c.RetryCount+1, describe(err))
	}
	return o
}

// describe is an error as the row shows it: Brevo's status, code and
// message ("400 invalid_parameter: Invalid email address"), or what went
// wrong on the way ("upsert contact: … connection refused").
func describe(err error) string {
	return strings.TrimPrefix(err.Error(), "brevo: ")
}

// release hands the claim back without charging an attempt; the row becomes
// claimable again after delay (0: at once).
func release(c Contact, token string, delay time.Duration) outcome {
	o := outcome{id: c.ID, token: token, contact: c, result: ResultReleased,
		sync: "Queued", proc: "Queued", keepErr: true, retries: c.RetryCount, delay: delay}
	if c.RetryCount > 0 {
		o.proc = "Error" // still a retry of an earlier failure
	}
	if delay <= 0 {
		o.delay = -1
	}
	return o
}
