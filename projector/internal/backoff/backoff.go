package backoff

import (
	"context"
	"log/slog"
	"time"
)

// Policy shapes the waits between attempts.
type Policy struct {
	Initial   time.Duration // first wait; default 50 ms
	Max       time.Duration // longest wait; default 5 s
	WarnEvery time.Duration // how often a lasting outage is logged again; default 30 s
}

func (p Policy) withDefaults() Policy {
	if p.Initial <= 0 {
		p.Initial = 50 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 5 * time.Second
	}
	if p.WarnEvery <= 0 {
		p.WarnEvery = 30 * time.Second
	}
	return p
}

// Delay is the wait before attempt n+1 after n failures (n >= 1).
func (p Policy) Delay(n int) time.Duration {
	p = p.withDefaults()
	d := p.Initial
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// Retry calls fn until it returns nil or ctx ends; it returns nil or ctx's
// error. what names the operation in logs. While waiting between attempts it
// calls wait (if not nil), for example to keep a lease alive.
func Retry(ctx context.Context, log *slog.Logger, p Policy, what string, fn func(context.Context) error, wait func()) error {
	p = p.withDefaults()
	var (
		failures int
		first    time.Time
		warned   time.Time
	)
	for {
		err := fn(ctx)
		if err == nil {
			if failures > 0 {
				log.Info(what+" recovered", "attempts", failures+1, "down", time.Since(first).Round(time.Millisecond))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failures++
		now := time.Now()
		switch {
		case failures == 1:
			first, warned = now, now
			log.Warn(what+" failed, retrying", "err", err)
		case now.Sub(warned) >= p.WarnEvery:
			warned = now
			log.Warn(what+" still failing", "attempts", failures, "down", now.Sub(first).Round(time.Second), "err", err)
		}
		t := time.NewTimer(p.Delay(failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if wait != nil {
			wait()
		}
	}
}
