package backoff

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	p := Policy{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{1, 10 * time.Millisecond},
		{2, 20 * time.Millisecond},
		{3, 40 * time.Millisecond},
		{4, 50 * time.Millisecond},
		{100, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := p.Delay(tt.n); got != tt.want {
			t.Errorf("Delay(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestRetry(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	p := Policy{Initial: time.Millisecond, Max: time.Millisecond}
	calls, waits := 0, 0
	err := Retry(context.Background(), log, p, "thing", func(context.Context) error {
		calls++
		if calls < 5 {
			return errors.New("down")
		}
		return nil
	}, func() { waits++ })
	if err != nil || calls != 5 || waits != 4 {
		t.Fatalf("err=%v calls=%d waits=%d, want nil 5 4", err, calls, waits)
	}
	out := buf.String()
	if strings.Count(out, "thing failed, retrying") != 1 || strings.Count(out, "thing recovered") != 1 {
		t.Fatalf("want one warning and one recovery line, got:\n%s", out)
	}
}

func TestRetryStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	calls := 0
	err := Retry(ctx, log, Policy{Initial: time.Millisecond}, "thing", func(context.Context) error {
		calls++
		if calls == 3 {
			cancel()
		}
		return errors.New("down")
	}, nil)
	if !errors.Is(err, context.Canceled) || calls != 3 {
		t.Fatalf("err=%v calls=%d, want context.Canceled after 3", err, calls)
	}
}
