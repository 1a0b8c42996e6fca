package projector

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/opshttp"
	"github.com/chillin-chat/chillin/projector/internal/feed"
	"github.com/chillin-chat/chillin/projector/internal/pg"
)

// metrics are one process's Prometheus series, all named chillin_projector_*,
// labelled by view. See docs/operations.md for what each one means.
type metrics struct {
	applied     *prometheus.CounterVec
	batch       *prometheus.HistogramVec
	lag         *prometheus.GaugeVec
	factLag     *prometheus.HistogramVec
	pgErrors    *prometheus.CounterVec
	redisErrors *prometheus.CounterVec
	stopped     *prometheus.GaugeVec
}

// lagBuckets span a caught-up view (a millisecond) to a view that was away
// (minutes), in seconds.
var lagBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// newMetrics creates the series with register, and a collector of the
// durable consumers of views.
func newMetrics(register func(prometheus.Collector) error, js jetstream.JetStream, views []string) (*metrics, error) {
	view := []string{"view"}
	m := &metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chillin_projector_facts_applied_total",
			Help: "Facts this process applied to a view and acked.",
		}, view),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chillin_projector_batch_size",
			Help:    "Facts per applied batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 .. 1024
		}, view),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chillin_projector_lag_seconds",
			Help: "When the view last applied a batch: that moment minus the time of the batch's newest fact.",
		}, view),
		factLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chillin_projector_fact_lag_seconds",
			Help:    "For each fact applied: the moment its batch was applied minus the fact's time.",
			Buckets: lagBuckets,
		}, view),
		pgErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chillin_projector_postgres_errors_total",
			Help: "Failed attempts to apply a batch to Postgres (each is retried).",
		}, view),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chillin_projector_redis_errors_total",
			Help: "Failed attempts to apply a batch to Redis (each is retried).",
		}, view),
		stopped: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chillin_projector_view_stopped",
			Help: "1 while the view is stopped at a fact it cannot apply (alert on it), else 0.",
		}, view),
	}
	names := make([]string, len(views))
	for i, v := range views {
		names[i] = events.ProjectionConsumerConfig(v, false).Durable
	}
	for _, c := range []prometheus.Collector{m.applied, m.batch, m.lag, m.factLag, m.pgErrors, m.redisErrors, m.stopped,
		opshttp.ConsumerCollector("chillin_projector", func(ctx context.Context) []*jetstream.ConsumerInfo {
			var infos []*jetstream.ConsumerInfo
			for _, name := range names {
				if cons, err := js.Consumer(ctx, events.EvtStream, name); err == nil {
					infos = append(infos, cons.CachedInfo())
				}
			}
			return infos
		})} {
		if err := register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observer returns the feed observer of one view.
func (m *metrics) observer(view string) *viewObserver {
	errs := m.redisErrors
	if view == ViewPG {
		errs = m.pgErrors
	}
	return &viewObserver{
		now:     time.Now,
		applied: m.applied.WithLabelValues(view),
		batch:   m.batch.WithLabelValues(view),
		lag:     m.lag.WithLabelValues(view),
		factLag: m.factLag.WithLabelValues(view),
		errors:  errs.WithLabelValues(view),
		stopped: m.stopped.WithLabelValues(view),
	}
}

type viewObserver struct {
	now     func() time.Time
	applied prometheus.Counter
	batch   prometheus.Observer
	lag     prometheus.Gauge
	factLag prometheus.Observer
	errors  prometheus.Counter
	stopped prometheus.Gauge
	// halted: the view is stopped at a fact it cannot apply.
	halted atomic.Bool
}

// Applied records a batch. Lag is measured against the facts' own times,
// set by the writer that appended them; a small negative span (clocks of
// different machines) counts as zero.
func (o *viewObserver) Applied(items []feed.Item) {
	now := o.now()
	var newest feed.Item
	n := 0
	for _, it := range items {
		if it.Err != nil || it.Fact.At.IsZero() {
			continue
		}
		n++
		o.factLag.Observe(max(now.Sub(it.Fact.At), 0).Seconds())
		if it.Seq > newest.Seq {
			newest = it
		}
	}
	o.halted.Store(false)
	o.stopped.Set(0)
	o.applied.Add(float64(n))
	o.batch.Observe(float64(len(items)))
	if n > 0 {
		o.lag.Set(max(now.Sub(newest.Fact.At), 0).Seconds())
	}
}

// Failed records a failed attempt; one that stopped at a fact the view
// cannot apply marks the view stopped until a batch is applied.
func (o *viewObserver) Failed(err error) {
	o.errors.Inc()
	if errors.Is(err, pg.ErrStopped) {
		o.halted.Store(true)
		o.stopped.Set(1)
	}
}

// probe is the /ready check of the view: down while it is stopped.
func (o *viewObserver) probe(view string) opshttp.Probe {
	return opshttp.Probe{Name: view + " view", Check: func(context.Context) error {
		if o.halted.Load() {
			return pg.ErrStopped
		}
		return nil
	}}
}
