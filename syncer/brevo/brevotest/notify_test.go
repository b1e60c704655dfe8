package brevotest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brevosync/brevosync/syncer/brevo/brevotest"
)

// notifyCall is one notifyUrl request as the receiver saw it.
type notifyCall struct {
	method, path, query string
	body                []byte
	contentLength       int64
}

// notifyReceiver answers the n-th call (from 1) with status(n) and sends
// every call on the returned channel.
func notifyReceiver(t *testing.T, status func(n int32) int) (*httptest.Server, <-chan notifyCall) {
	t.Helper()
	got := make(chan notifyCall, 10)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- notifyCall{r.Method, r.URL.Path, r.URL.RawQuery, b, r.ContentLength}
		w.WriteHeader(status(n.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

const notifyRows = `"listIds":[1],"jsonBody":[{"email":"a@example.com"}]`

func TestImportNotify(t *testing.T) {
	t.Parallel()
	recv, got := notifyReceiver(t, always(200))
	s := brevotest.New(t, brevotest.Config{})
	id := submitImport(t, s, `{"notifyUrl":"`+recv.URL+`/brevo/import/42?token=abc",`+notifyRows+`}`)
	if err := s.WaitStats(waitCtx(t), func(st brevotest.Stats) bool { return st.ImportNotifications == 1 }); err != nil {
		t.Fatalf("waiting for the notification: %v", err)
	}
	c := <-got
	if c.method != http.MethodPost || c.path != "/brevo/import/42" || c.query != "token=abc" || len(c.body) != 0 || c.contentLength != 0 {
		t.Errorf("notification = %+v, want POST /brevo/import/42?token=abc with an empty body", c)
	}
	p := s.Processes()[id-1]
	if !p.Notified || p.NotifyError != "" || p.NotifyURL != recv.URL+"/brevo/import/42?token=abc" {
		t.Errorf("process = %+v, want notified", p)
	}
	// Imports without a notifyUrl notify nobody.
	waitProcess(t, s, submitImport(t, s, `{`+notifyRows+`}`))
	if st := s.Stats(); st.ImportNotifications != 1 || st.ImportNotificationsFailed != 0 || len(got) != 0 {
		t.Errorf("Stats = %+v with %d more calls, want just the one notification", st, len(got))
	}
}

func TestImportNotifyEnds(t *testing.T) {
	t.Parallel()
	recv, got := notifyReceiver(t, always(204))
	s := brevotest.New(t, brevotest.Config{})
	// Failed and cancelled imports notify too.
	s.FailNextImport("cancelled")
	submitImport(t, s, `{"notifyUrl":"`+recv.URL+`/cancelled",`+notifyRows+`}`)
	if err := s.WaitStats(waitCtx(t), func(st brevotest.Stats) bool { return st.ImportNotifications == 1 }); err != nil {
		t.Fatalf("waiting for the notification of a cancelled import: %v", err)
	}
	if c := <-got; c.path != "/cancelled" {
		t.Errorf("notification path %s, want /cancelled", c.path)
	}
}

func TestImportNotifyRetry(t *testing.T) {
	t.Parallel()
	recv, got := notifyReceiver(t, func(n int32) int {
		if n == 1 {
			return 503
		}
		return 200
	})
	s := brevotest.New(t, brevotest.Config{})
	submitImport(t, s, `{"notifyUrl":"`+recv.URL+`",`+notifyRows+`}`)
	if err := s.WaitStats(waitCtx(t), func(st brevotest.Stats) bool { return st.ImportNotifications == 1 }); err != nil {
		t.Fatalf("waiting for the retried notification: %v", err)
	}
	if n := len(got); n != 2 {
		t.Errorf("%d notification attempts, want 2", n)
	}
}

func TestImportNotifyFails(t *testing.T) {
	t.Parallel()
	recv, got := notifyReceiver(t, always(500))
	s := brevotest.New(t, brevotest.Config{})
	id := submitImport(t, s, `{"notifyUrl":"`+recv.URL+`",`+notifyRows+`}`)
	if err := s.WaitStats(waitCtx(t), func(st brevotest.Stats) bool { return st.ImportNotificationsFailed == 1 }); err != nil {
		t.Fatalf("waiting for the notification to fail: %v", err)
	}
	if n := len(got); n != 3 {
		t.Errorf("%d notification attempts, want 3", n)
	}
	p := s.Processes()[id-1]
	if p.Notified || p.NotifyError == "" || p.Status != "completed" {
		t.Errorf("process = %+v, want completed, not notified, with the error", p)
	}
	if st := s.Stats(); st.ImportNotifications != 0 {
		t.Errorf("ImportNotifications = %d, want 0", st.ImportNotifications)
	}
}

func TestCloseStopsImports(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // until the simulator gives up
	}))
	t.Cleanup(hang.Close)
	s := brevotest.NewServer(brevotest.Config{})
	submitImport(t, s, `{"notifyUrl":"`+hang.URL+`",`+notifyRows+`}`)
	select {
	case <-arrived:
	case <-waitCtx(t).Done():
		t.Fatal("the notification never arrived")
	}
	s.SetImportSpeed(0)
	id := submitImport(t, s, `{`+notifyRows+`}`)
	waitProcess(t, s, id, "in_process")

	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a notification hanging and an import paused")
	}
	if p := s.Processes()[id-1]; p.Status != "in_process" {
		t.Errorf("paused import after Close = %s, want in_process", p.Status)
	}
}
