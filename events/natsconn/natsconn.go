// Package natsconn dials the NATS connection a Chillin service holds, the
// same way in every service.
//
// A first connect that fails (NATS not up yet, a cluster still electing) is
// retried every reconnectWait until it succeeds or the service's context
// ends: services may start in any order. Once connected, the connection
// reconnects forever after a network failure.
//
// nats.go closes a connection for good, however, when the server ends it with a protocol
// error (a subject longer than the server's control line limit, for one:
// "maximum control line exceeded"); such a connection cannot be reopened,
// and a service that ran on with it would fail every request until someone
// restarted it. Connect's context ends when that happens, with ErrClosed as
// its cause: the service stops and returns the error, and Serve, which every
// command runs its service under, starts it again, which dials anew.
// Meanwhile its /ready answers 503, as it does while NATS is away.
package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrClosed is the cause of a Connect context that ended because the
// connection was closed for good.
var ErrClosed = errors.New("nats connection closed for good")

// reconnectWait is the pause between two reconnect attempts, first
// connect included.
const reconnectWait = time.Second

// connectPoll is how often Connect looks whether the first connect has
// succeeded.
const connectPoll = 20 * time.Millisecond

// A connection pings its server every pingInterval and gives it up when
// maxPingsOut pings go unanswered.
const (
	pingInterval = 5 * time.Second
	maxPingsOut  = 3
)

// Connect dials url as the named client, retrying until NATS answers or ctx
// ends. It returns the connection and a context derived from ctx that ends
// when the connection is closed for good (not by the service's own Close
// after ctx ended). opts come after the package's own and may add to them.
func Connect(ctx context.Context, url, name string, log *slog.Logger, opts ...nats.Option) (context.Context, *nats.Conn, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	base := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(reconnectWait),
		// No reconnect buffer: a publish made while the connection is away
		// fails at once instead of being sent, perhaps much later, once it
		// is back. Whoever published knows it was not sent, and a command
		// or fact never reaches the log after its sender gave up on it.
		nats.ReconnectBufSize(-1),
		// A server that stops answering (hung, frozen, cut off) is given
		// up on within about 20 s, not the client's default minutes, and
		// the connection moves to another server of the cluster.
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected") }),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if ctx.Err() != nil || nc.LastError() == nil {
				return // the service's own Close
			}
			err := fmt.Errorf("%w: %v", ErrClosed, nc.LastError())
			log.Error("nats connection closed; stopping so that a restart dials again", "err", err)
			cancel(err)
		}),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		cancel(nil)
		return nil, nil, fmt.Errorf("%s: connect to nats: %w", name, err)
	}
	if err := waitConnected(ctx, nc, log); err != nil {
		nc.Close()
		cancel(nil)
		return nil, nil, fmt.Errorf("%s: connect to nats: %w", name, err)
	}
	return ctx, nc, nil
}

// waitConnected waits until nc's first connect, retried by nats.go
// (RetryOnFailedConnect), succeeds, or until ctx ends.
func waitConnected(ctx context.Context, nc *nats.Conn, log *slog.Logger) error {
	if nc.IsConnected() {
		return nil
	}
	log.Warn("nats not reachable yet; retrying until it is", "err", nc.LastError())
	t := time.NewTicker(connectPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
		switch {
		case nc.IsConnected():
			log.Info("nats connected")
			return nil
		case nc.IsClosed():
			return fmt.Errorf("%w: %v", ErrClosed, nc.LastError())
		}
	}
}

// Lost returns the error that closed the connection of a Connect context
// for good, or nil when it did not end that way.
func Lost(ctx context.Context) error {
	if err := context.Cause(ctx); errors.Is(err, ErrClosed) {
		return err
	}
	return nil
}

// redialWait is the pause before a service whose connection was closed for
// good runs again.
var redialWait = time.Second

// Serve runs a service until ctx ends, and runs it again, after a short
// pause, each time it stops because its connection was closed for good:
// each run dials anew. Every command runs its service (the all-in-one, each
// of its three) under Serve. Any other error ends Serve, but for one that is
// ctx's own end (a stop while Connect waited for NATS): that is a clean stop.
func Serve(ctx context.Context, log *slog.Logger, name string, run func(context.Context) error) error {
	for {
		err := run(ctx)
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil
		}
		if !errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return err
		}
		log.Error("service stopped: its nats connection was closed; starting it again", "service", name, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(redialWait):
		}
	}
}
