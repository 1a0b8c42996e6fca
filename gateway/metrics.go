package gateway

import (
	"context"
	"errors"

	"github.com/chillin-chat/chillin/events/opshttp"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

type metrics struct {
	registry  *prometheus.Registry
	conns     prometheus.Gauge
	framesIn  *prometheus.CounterVec
	framesOut prometheus.Counter
	commands  *prometheus.CounterVec
	undecided prometheus.Counter
	dropped   prometheus.Counter
	pgErrors  prometheus.Counter
	rdErrors  prometheus.Counter
	series    []prometheus.Collector // the gateway's own, registered with registry
}

// unregister removes the gateway's series from a shared registry.
func (m *metrics) unregister() {
	for _, c := range m.series {
		m.registry.Unregister(c)
	}
}

// newMetrics registers the gateway's series with reg or, if reg is nil, with
// a registry of its own that also has the Go runtime and process series.
func newMetrics(reg *prometheus.Registry) *metrics {
	if reg == nil {
		reg = opshttp.NewRegistry()
	}
	m := &metrics{
		registry: reg,
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
		undecided: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chillin_gateway_commands_undecided_total", Help: "Commands answered UNAVAILABLE because no decision reached them by their deadline.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chillin_gateway_slow_closes_total", Help: "Sockets closed because their send queue was full (in frames or in bytes).",
		}),
		pgErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chillin_gateway_postgres_errors_total", Help: "Failed Postgres connects, queries and batches.",
		}),
		rdErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chillin_gateway_redis_errors_total", Help: "Failed Redis commands and pipelines.",
		}),
	}
	m.series = []prometheus.Collector{m.conns, m.framesIn, m.framesOut, m.commands, m.undecided, m.dropped, m.pgErrors, m.rdErrors}
	m.registry.MustRegister(m.series...)
	return m
}

// failure reports whether err is a store failure worth counting: not a
// cancelled or abandoned request, and not an answer such as "no such key" or
// "script not cached yet" (go-redis then sends the script itself).
func failure(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, redis.Nil) && !errors.Is(err, pgx.ErrNoRows) && !redis.HasErrorPrefix(err, "NOSCRIPT")
}

// redisHook counts failed Redis commands and pipelines (go-redis hook).
type redisHook struct{ errs prometheus.Counter }

// DialHook counts nothing: a failed dial fails the command that needed it,
// which is counted once.
func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if failure(ctx, err) && !handshake(cmd) {
			h.errs.Inc()
		}
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if failure(ctx, err) {
			// Counted once, if anything but the handshake (which go-redis
			// sends as a pipeline of its own) failed.
			for _, cmd := range cmds {
				if failure(ctx, cmd.Err()) && !handshake(cmd) {
					h.errs.Inc()
					break
				}
			}
		}
		return err
	}
}

// handshake reports whether cmd is one of the commands go-redis sends when it
// opens a connection (HELLO, CLIENT SETINFO, CLIENT MAINT_NOTIFICATIONS):
// optional, their refusal by an older Redis is expected and ignored.
func handshake(cmd redis.Cmder) bool {
	return cmd.Name() == "hello" || cmd.Name() == "client"
}

// pgTracer counts failed Postgres connects, queries and batches (pgx tracer).
type pgTracer struct{ errs prometheus.Counter }

func (t pgTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (t pgTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if failure(ctx, data.Err) {
		t.errs.Inc()
	}
}

func (t pgTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (t pgTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t pgTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	if failure(ctx, data.Err) {
		t.errs.Inc()
	}
}

func (t pgTracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	return ctx
}

func (t pgTracer) TraceConnectEnd(ctx context.Context, data pgx.TraceConnectEndData) {
	if failure(ctx, data.Err) {
		t.errs.Inc()
	}
}
