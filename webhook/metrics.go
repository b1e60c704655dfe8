package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the webhook's Prometheus collectors, made per handler so that
// a test binary can build many handlers over different registries.
type metrics struct {
	events   *prometheus.CounterVec
	requests *prometheus.CounterVec
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brevosync_webhook_events_total",
			Help: "Brevo webhook events by event name and result: " +
				"stored, unknown_email (stored, no contact has an email it names), duplicate (already stored), " +
				"rejected (content the database refuses, 400, or a delivery over a cap, 413), failed (database unavailable, 429).",
		}, []string{"event", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brevosync_webhook_requests_total",
			Help: "Requests to the Brevo webhook endpoint by HTTP status code.",
		}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "brevosync_webhook_request_duration_seconds",
			Help:    "Time to answer a Brevo webhook request, storage included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
	}
	if reg != nil {
		m.events = register(reg, m.events)
		m.requests = register(reg, m.requests)
		m.duration = register(reg, m.duration)
	}
	return m
}

// register registers c, or returns the equal collector reg already has.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a different collector under our name: a programming error
	}
	return c
}

// knownEvents bounds the event label; other names count as "other".
var knownEvents = map[string]bool{
	EventListAddition: true, EventContactUpdated: true, EventContactDeleted: true,
	EventUnsubscribed: true, EventUnsubscribe: true,
	"spam": true, "opened": true, "click": true, "delivered": true,
	"hard_bounce": true, "soft_bounce": true, "hard_bounced": true, "soft_bounced": true,
	"unique_opened": true, "proxy_open": true,
}

func (m *metrics) event(name, result string) {
	if !knownEvents[name] {
		name = "other"
	}
	m.events.WithLabelValues(name, result).Inc()
}

// instrument counts requests by status and observes their duration.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		returned := false
		defer func() { // runs while a panic unwinds too, without stopping it
			status := ww.Status()
			switch {
			case !returned:
				status = http.StatusInternalServerError
			case status == 0:
				status = http.StatusOK
			}
			m.requests.WithLabelValues(strconv.Itoa(status)).Inc()
			m.duration.Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(ww, r)
		returned = true
	})
}
