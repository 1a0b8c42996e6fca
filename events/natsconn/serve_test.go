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
