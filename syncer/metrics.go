package syncer

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the syncer's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	syncs        *prometheus.CounterVec
	requests     *prometheus.CounterVec
	requestTime  prometheus.Histogram
	latency      prometheus.Histogram
	sweeps       *prometheus.CounterVec
	sweepFound   *prometheus.CounterVec
	paused       *prometheus.GaugeVec
	claims       prometheus.Counter
	lostFinalize prometheus.Counter
	statements   *prometheus.HistogramVec
}

// NewMetrics registers the syncer's metrics on reg, including a collector
// that reads the queue depth and pg_notification_queue_usage() from db at
// each scrape.
func NewMetrics(reg prometheus.Registerer, db *pgxpool.Pool) *Metrics {
	m := &Metrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brevosync_syncs_total",
			Help: "Contacts finished by an attempt, by result (complete, retry, failed, released).",
		}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brevosync_brevo_requests_total",
			Help: "Brevo upsert requests by HTTP status code (\"error\" when no answer came).",
		}, []string{"code"}),
		requestTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "brevosync_brevo_request_duration_seconds",
			Help:    "Duration of Brevo upsert requests.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "brevosync_selection_to_brevo_seconds",
			Help:    "Time from a contact's selection (the trigger's clock) to Brevo's successful answer.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
		}),
		sweeps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brevosync_sweeps_total",
			Help: "Fallback sweep passes, by outcome (ran, skipped: another replica held the lock, error).",
		}, []string{"outcome"}),
		sweepFound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "brevosync_sweep_found_total",
			Help: "What sweeps found: expired claims taken back (rescued) and due contacts (due).",
		}, []string{"kind"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "brevosync_sending_paused",
			Help: "1 while sending to Brevo is paused, by reason (unauthorized, rate_limited).",
		}, []string{"reason"}),
		claims: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "brevosync_claims_total",
			Help: "Claim statements run.",
		}),
		lostFinalize: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "brevosync_claims_lost_total",
			Help: "Outcomes not written because the claim no longer held (withdrawn, re-selected or expired).",
		}),
		statements: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "brevosync_db_statement_duration_seconds",
			Help:    "Duration of the syncer's statements (claim, finalize, next_due), round trip included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"statement"}),
	}
	reg.MustRegister(m.syncs, m.requests, m.requestTime, m.latency, m.sweeps, m.sweepFound,
		m.paused, m.claims, m.lostFinalize, m.statements)
	if db != nil {
		reg.MustRegister(&queueCollector{db: db})
	}
	return m
}

func (m *Metrics) synced(o outcome) {
	if m == nil {
		return
	}
	m.syncs.WithLabelValues(string(o.result)).Inc()
	if o.result == ResultComplete && !o.contact.RequestedAt.IsZero() {
		m.latency.Observe(time.Since(o.contact.RequestedAt).Seconds())
	}
}

func (m *Metrics) request(d time.Duration, status int) {
	if m == nil {
		return
	}
	code := "error"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(code).Inc()
	m.requestTime.Observe(d.Seconds())
}

func (m *Metrics) sweep(r SweepReport, err error) {
	if m == nil {
		return
	}
	switch {
	case err != nil:
		m.sweeps.WithLabelValues("error").Inc()
	case r.Skipped:
		m.sweeps.WithLabelValues("skipped").Inc()
	default:
		m.sweeps.WithLabelValues("ran").Inc()
		m.sweepFound.WithLabelValues("rescued").Add(float64(r.Rescued))
		m.sweepFound.WithLabelValues("due").Add(float64(r.Due))
	}
}

func (m *Metrics) setPaused(reason string, on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.paused.WithLabelValues(reason).Set(v)
}

func (m *Metrics) claimed() {
	if m != nil {
		m.claims.Inc()
	}
}

// statement records how long one of the syncer's statements took.
func (m *Metrics) statement(name string, start time.Time) {
	if m != nil {
		m.statements.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}
}

func (m *Metrics) lost(n int) {
	if m != nil {
		m.lostFinalize.Add(float64(n))
	}
}

// queueCollector reads the work states and the NOTIFY queue's fill at scrape
// time, through the partial indexes (cheap on a large table).
type queueCollector struct{ db *pgxpool.Pool }

var (
	queueDepthDesc = prometheus.NewDesc("brevosync_queue_depth",
		"Contacts in each work state: pending (waiting, due or not), due, processing, retrying.",
		[]string{"state"}, nil)
	notifyUsageDesc = prometheus.NewDesc("brevosync_pg_notification_queue_usage",
		"pg_notification_queue_usage(): fraction of the server's NOTIFY queue in use; alert above 0.", nil, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- notifyUsageDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var pending, due, inFlight, retrying int64
	var usage float64
	err := c.db.QueryRow(ctx, `SELECT q.*, pg_notification_queue_usage() FROM (`+queueCountsSQL+`) AS q`).
		Scan(&pending, &due, &inFlight, &retrying, &usage)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDepthDesc, err)
		return
	}
	for state, v := range map[string]int64{"pending": pending, "due": due, "processing": inFlight, "retrying": retrying} {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(v), state)
	}
	ch <- prometheus.MustNewConstMetric(notifyUsageDesc, prometheus.GaugeValue, usage)
}
