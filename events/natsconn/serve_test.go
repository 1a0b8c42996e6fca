package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

// A service that stops for a closed connection runs again; one that stops
// for anything else, or cleanly, does not.
func TestServeRunsAgainAfterAClosedConnection(t *testing.T) {
	redialWait = time.Millisecond
	log := slog.New(slog.DiscardHandler)
	other := errors.New("bad config")
	for _, tc := range []struct {
		name    string
		results []error
		want    error
		runs    int
	}{
		{"closed twice, then clean", []error{fmt.Errorf("gateway: %w", ErrClosed), ErrClosed, nil}, nil, 3},
		{"closed, then another error", []error{ErrClosed, other}, other, 2},
		{"another error", []error{other, nil}, other, 1},
		{"clean", []error{nil, ErrClosed}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := 0
			err := Serve(context.Background(), log, "test", func(context.Context) error {
				runs++
				return tc.results[runs-1]
			})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) || runs != tc.runs {
				t.Fatalf("Serve = %v after %d runs, want %v after %d", err, runs, tc.want, tc.runs)
			}
		})
	}
}

// Once ctx ends, a closed connection is not a reason to run again.
func TestServeStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	runs := 0
	err := Serve(ctx, slog.New(slog.DiscardHandler), "test", func(context.Context) error {
		runs++
		cancel()
		return ErrClosed
	})
	if runs != 1 || !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve = %v after %d runs, want the error after 1", err, runs)
	}
}

// A run that ended with its context's own end (stopped while Connect waited
// for NATS) is a clean stop; another error after the end is still returned.
func TestServeStoppedWhileConnecting(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  func(ctx context.Context) error
		want error
	}{
		{"the context's end", func(ctx context.Context) error { return fmt.Errorf("gateway: connect to nats: %w", context.Cause(ctx)) }, nil},
		{"another error", func(context.Context) error { return errors.New("disk full") }, errors.New("disk full")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			err := Serve(ctx, slog.New(slog.DiscardHandler), "test", func(ctx context.Context) error {
				cancel()
				return tc.err(ctx)
			})
			if (err == nil) != (tc.want == nil) || (err != nil && err.Error() != tc.want.Error()) {
				t.Fatalf("Serve = %v, want %v", err, tc.want)
			}
		})
	}
}
