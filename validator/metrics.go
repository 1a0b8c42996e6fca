package validator

import (
	"context"
	"time"

	"github.com/chillin-chat/chillin/events/opshttp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are one instance's Prometheus series, all named
// chillin_validator_*. See docs/operations.md for what each one means.
type metrics struct {
	accepted     *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	expired      prometheus.Counter
	latency      prometheus.Histogram
	batch        prometheus.Histogram
	commitBatch  prometheus.Histogram
	commitTime   *prometheus.HistogramVec
	redeliveries *prometheus.CounterVec
	roomLoads    *prometheus.CounterVec
	snapshots    *prometheus.CounterVec
}

// latencyBuckets span a loopback pipeline (well under a millisecond) to a
// stalled one (tens of seconds), in seconds.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// newMetrics creates the instance's series with register. redisErrors
// counts failed Redis calls; consumers are the command partitions' durable
// consumers, read at each scrape.
func newMetrics(register func(prometheus.Collector) error, redisErrors func() uint64, consumers func() []jetstream.Consumer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chillin_validator_commands_accepted_total",
			Help: "Commands whose fact this instance appended to CHAT_EVT, by command type.",
		}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chillin_validator_commands_rejected_total",
			Help: "Commands this instance refused, by rejection code.",
		}, []string{"code"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chillin_validator_commands_expired_total",
			Help: "Commands this instance dropped undecided because their deadline had passed.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chillin_validator_pipeline_latency_seconds",
			Help:    "From the gateway stamping a command to JetStream acking its fact or refusal.",
			Buckets: latencyBuckets,
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chillin_validator_batch_size",
			Help:    "Commands delivered by one pull request that delivered any.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8), // 1 .. 128; a request asks for 64
		}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chillin_validator_commit_batch_size",
			Help:    "Facts appended to CHAT_EVT in one atomic batch (one sync of the store).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 9), // 1 .. 256
		}),
		commitTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chillin_validator_commit_seconds",
			Help:    "From a group of facts gathered to JetStream acknowledging it, by how it was written: as one atomic batch, or each fact on its own.",
			Buckets: latencyBuckets,
		}, []string{"how"}),
		redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chillin_validator_redeliveries_total",
			Help: "Commands delivered to this instance that had been delivered before, by consumer.",
		}, []string{"consumer"}),
		roomLoads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chillin_validator_room_loads_total",
			Help: "Room states read because no worker held them, by source: snapshot (and the facts after it) or log (every fact).",
		}, []string{"from"}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chillin_validator_room_snapshots_total",
			Help: "Room states evicted from the cache, by what became of them: saved to CHAT_ROOMSTATE, or too_large to save.",
		}, []string{"outcome"}),
	}
	redis := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "chillin_validator_redis_errors_total",
		Help: "Failed Redis calls of the shared rate limit (each starts a second of in-process counting).",
	}, func() float64 { return float64(redisErrors()) })
	for _, c := range []prometheus.Collector{m.accepted, m.rejected, m.expired, m.latency, m.batch, m.commitBatch, m.commitTime, m.redeliveries, m.roomLoads, m.snapshots, redis,
		opshttp.ConsumerCollector("chillin_validator", func(ctx context.Context) []*jetstream.ConsumerInfo {
			var infos []*jetstream.ConsumerInfo
			for _, cons := range consumers() {
				if info, err := cons.Info(ctx); err == nil {
					infos = append(infos, info)
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

// observeLatency records the pipeline latency of a command stamped at
// stamped whose outcome JetStream acked at done. Clocks of different machines
// may disagree a little; a negative span counts as zero.
func (m *metrics) observeLatency(stamped, done time.Time) {
	if stamped.IsZero() {
		return
	}
	m.latency.Observe(max(done.Sub(stamped), 0).Seconds())
}
