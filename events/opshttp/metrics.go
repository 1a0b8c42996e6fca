package opshttp

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Registrations registers collectors on a registry and removes them all at
// once, so that a service's Run can be called again with the same registry.
type Registrations struct {
	Registry *prometheus.Registry
	done     []prometheus.Collector
}

// Register registers c and remembers it.
func (r *Registrations) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	r.done = append(r.done, c)
	return nil
}

// UnregisterAll removes every collector Register added.
func (r *Registrations) UnregisterAll() {
	for _, c := range r.done {
		r.Registry.Unregister(c)
	}
	r.done = nil
}

// consumerInfoTimeout bounds the consumer info requests of one scrape.
const consumerInfoTimeout = 2 * time.Second

// ConsumerCollector reports, at each scrape, the state of durable consumers
// as the server sees it: <prefix>_consumer_pending (not delivered yet),
// _ack_pending (delivered, not acked) and _redelivered, labelled by
// consumer. infos asks the server; a consumer it cannot tell about (NATS
// away, not made yet) is left out of that scrape rather than reported as 0.
func ConsumerCollector(prefix string, infos func(ctx context.Context) []*jetstream.ConsumerInfo) prometheus.Collector {
	labels := []string{"consumer"}
	return &consumerCollector{
		infos:      infos,
		pending:    prometheus.NewDesc(prefix+"_consumer_pending", "Messages on the stream that the durable consumer has not delivered yet.", labels, nil),
		ackPending: prometheus.NewDesc(prefix+"_consumer_ack_pending", "Messages the durable consumer delivered that no instance has acked yet.", labels, nil),
		redeliv:    prometheus.NewDesc(prefix+"_consumer_redelivered", "Messages the durable consumer is redelivering (delivered more than once, not yet acked).", labels, nil),
	}
}

type consumerCollector struct {
	infos                        func(ctx context.Context) []*jetstream.ConsumerInfo
	pending, ackPending, redeliv *prometheus.Desc
}

func (c *consumerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPending
	ch <- c.redeliv
}

func (c *consumerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), consumerInfoTimeout)
	defer cancel()
	for _, info := range c.infos(ctx) {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending), info.Name)
		ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(info.NumAckPending), info.Name)
		ch <- prometheus.MustNewConstMetric(c.redeliv, prometheus.GaugeValue, float64(info.NumRedelivered), info.Name)
	}
}
