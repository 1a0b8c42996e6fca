package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	registry  *prometheus.Registry
	conns     prometheus.Gauge
	framesIn  *prometheus.CounterVec
	framesOut prometheus.Counter
	commands  *prometheus.CounterVec
	dropped   prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chillin_gateway_connections", Help: "Open WebSocket connections.",
		}),
		framesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chillin_gateway_frames_in_total", Help: "Client frames received, by type.",
		}, []string{"type"}),
		framesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chillin_gateway_frames_out_total", Help: "Frames queued to sockets.",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chillin_gateway_commands_total", Help: "Commands appended to CHAT_CMD, by type.",
		}, []string{"type"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chillin_gateway_slow_closes_total", Help: "Sockets closed because their send queue was full.",
		}),
	}
	m.registry.MustRegister(m.conns, m.framesIn, m.framesOut, m.commands, m.dropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
