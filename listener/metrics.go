package listener

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the listener's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	connected     prometheus.Gauge
	degraded      prometheus.Gauge
	reconnects    prometheus.Counter
	notifications prometheus.Counter
}

// NewMetrics registers the listener's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "brevosync_listener_connected",
			Help: "1 while the listener is LISTENing, 0 while it reconnects.",
		}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "brevosync_listener_polling",
			Help: "1 while the listener is connected but its notifications do not arrive (a transaction-mode pooler), so the syncer is polled.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "brevosync_listener_reconnects_total",
			Help: "Listener sessions that ended after having connected (each is followed by a reconnect and a catch-up).",
		}),
		notifications: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "brevosync_listener_notifications_total",
			Help: "Selection notifications received (one per selecting transaction).",
		}),
	}
	reg.MustRegister(m.connected, m.degraded, m.reconnects, m.notifications)
	return m
}

func (m *Metrics) setConnected(v bool) {
	if m == nil {
		return
	}
	if v {
		m.connected.Set(1)
	} else {
		m.connected.Set(0)
	}
}

func (m *Metrics) setDegraded(v bool) {
	if m == nil {
		return
	}
	if v {
		m.degraded.Set(1)
	} else {
		m.degraded.Set(0)
	}
}

func (m *Metrics) reconnected() {
	if m != nil {
		m.reconnects.Inc()
	}
}

func (m *Metrics) notified() {
	if m != nil {
		m.notifications.Inc()
	}
}
