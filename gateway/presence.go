package gateway

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Presence (basic): every gateway marks the users it hosts as seen, in one
// Redis sorted set scored by time, every presenceBeat. A user seen within
// presenceTTL is online; a gateway that dies stops marking, so its users go
// offline within presenceTTL.
const (
	presenceBeat = 10 * time.Second
	presenceTTL  = 30 * time.Second
)

func (s *Server) onlineKey() string { return s.cfg.RedisPrefix + "online" }

// markOnline records users as seen now.
func (s *Server) markOnline(ctx context.Context, users ...string) {
	if len(users) == 0 {
		return
	}
	now := float64(time.Now().UnixMilli())
	zs := make([]redis.Z, len(users))
	for i, u := range users {
		zs[i] = redis.Z{Score: now, Member: u}
	}
	if err := s.rdb.ZAdd(ctx, s.onlineKey(), zs...).Err(); err != nil {
		s.log.Debug("mark online", "err", err)
	}
}

// onlineSet returns the users seen within presenceTTL; empty if Redis is away.
func (s *Server) onlineSet(ctx context.Context) map[string]bool {
	min := strconv.FormatInt(time.Now().Add(-presenceTTL).UnixMilli(), 10)
	users, err := s.rdb.ZRangeByScore(ctx, s.onlineKey(), &redis.ZRangeBy{Min: min, Max: "+inf"}).Result()
	if err != nil {
		s.log.Debug("online set", "err", err)
		return map[string]bool{}
	}
	set := make(map[string]bool, len(users))
	for _, u := range users {
		set[u] = true
	}
	return set
}

// beatPresence marks this gateway's users every presenceBeat and trims
// entries nobody refreshed.
func (s *Server) beatPresence(ctx context.Context) {
	t := time.NewTicker(presenceBeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			users := make([]string, 0, len(s.byUser))
			for u := range s.byUser {
				users = append(users, u)
			}
			s.mu.Unlock()
			s.markOnline(ctx, users...)
			stale := strconv.FormatInt(time.Now().Add(-2*presenceTTL).UnixMilli(), 10)
			s.rdb.ZRemRangeByScore(ctx, s.onlineKey(), "-inf", "("+stale)
		}
	}
}
