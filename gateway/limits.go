package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/ratelimit"
)

// The gateway admits typing and presence updates (ephemeral: they never
// reach the validator) and creates rooms itself, so it applies their
// per-user limits, with the limiter the validators use for the commands:
// windows in Redis shared by every gateway, counted in process while Redis
// is away.

// openLimits makes the limiter of Config.RateLimits.
func (s *Server) openLimits() error {
	l, err := ratelimit.New(ratelimit.Config{
		RedisURL: s.cfg.RedisURL, Prefix: s.cfg.RedisPrefix, Rules: s.cfg.RateLimits, Logger: s.log,
	})
	if err != nil {
		return err
	}
	s.limits = l
	return nil
}

// limitTimeout bounds one check; the limiter falls back within it.
const limitTimeout = time.Second

// allow counts action id of kind for user, and returns RATE_LIMITED's
// error when the user's window is full.
func (s *Server) allow(ctx context.Context, user string, kind ratelimit.Kind, id string) *events.Error {
	ctx, cancel := context.WithTimeout(ctx, limitTimeout)
	defer cancel()
	ok, wait := s.limits.Allow(ctx, user, kind, id)
	if ok {
		return nil
	}
	ms := max(wait.Milliseconds(), 1)
	e := events.Errorf(events.CodeRateLimited, "too many %s; retry in %d ms", limitedWhat[kind], ms)
	e.RetryAfterMs = ms
	return e
}

var limitedWhat = map[ratelimit.Kind]string{
	ratelimit.Typing:     "typing updates",
	ratelimit.Presence:   "status changes",
	ratelimit.RoomCreate: "new rooms",
}

// frameID names one frame of a socket for the limiter: every frame counts.
func (c *conn) frameID() string {
	return c.id + "." + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// tooMany answers a request refused by the limiter: 429 with Retry-After.
func tooMany(w http.ResponseWriter, e *events.Error) {
	w.Header().Set("Retry-After", strconv.FormatInt((e.RetryAfterMs+999)/1000, 10))
	writeError(w, http.StatusTooManyRequests, e)
}
