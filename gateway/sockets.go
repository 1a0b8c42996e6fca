package gateway

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// A user may hold Config.MaxSocketsPerUser sockets across all gateways. Each
// gateway counts its own (a bound that holds whatever happens to Redis) and
// each socket also holds a lease in Redis: a member of the user's sorted
// set, scored by when it lapses, renewed every third of Config.SocketLease
// while the socket lives and removed when it closes. A gateway that dies
// leaves leases that lapse within Config.SocketLease. While Redis does not
// answer, only the gateway's own count applies.

// socketLeaseWait bounds the wait for Redis before a socket is accepted
// without a lease.
const socketLeaseWait = time.Second

// socketLeaseRenew is how often the leases of a gateway's sockets are
// renewed: three times in a lease's life.
func (s *Server) socketLeaseRenew() time.Duration { return s.cfg.SocketLease / 3 }

// takeLease drops the user's lapsed leases and adds one, unless the user
// holds as many as one may. The lease runs on Redis's clock, the same for
// every gateway. KEYS[1] the user's set; ARGV: lease, max, ttl in ms.
var takeLease = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// renewLease extends a lease still held. KEYS[1] the user's set; ARGV:
// lease, ttl in ms.
var renewLease = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

func (s *Server) leasesKey(user string) string { return s.cfg.RedisPrefix + "sockets:" + user }

// reserveSocket counts one more socket of user, unless the user holds as
// many as one may, here or across the gateways; lease names its hold in
// Redis ("" if Redis did not answer). releaseSocket gives both back.
func (s *Server) reserveSocket(ctx context.Context, user string) (lease string, ok bool) {
	s.mu.Lock()
	if s.sockets[user] >= s.cfg.MaxSocketsPerUser {
		s.mu.Unlock()
		return "", false
	}
	s.sockets[user]++
	s.mu.Unlock()

	lease = s.id + "." + strconv.FormatUint(atomic.AddUint64(&s.leaseSeq, 1), 10)
	ctx, cancel := context.WithTimeout(ctx, socketLeaseWait)
	defer cancel()
	took, err := takeLease.Run(ctx, s.rdb, []string{s.leasesKey(user)}, lease, s.cfg.MaxSocketsPerUser, s.cfg.SocketLease.Milliseconds()).Int()
	switch {
	case err != nil:
		s.log.Warn("socket lease not taken: only this gateway's count applies", "user", user, "err", err)
		return "", true
	case took == 0:
		s.releaseSocket(user, "")
		return "", false
	}
	return lease, true
}

func (s *Server) releaseSocket(user, lease string) {
	s.mu.Lock()
	if n := s.sockets[user] - 1; n > 0 {
		s.sockets[user] = n
	} else {
		delete(s.sockets, user)
	}
	s.mu.Unlock()
	if lease == "" {
		return
	}
	// A socket's end must not wait for Redis: a lease not removed lapses.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), socketLeaseWait)
		defer cancel()
		if err := s.rdb.ZRem(ctx, s.leasesKey(user), lease).Err(); err != nil {
			s.log.Debug("socket lease not released; it lapses", "user", user, "err", err)
		}
	}()
}

// renewLeases keeps the leases of this gateway's sockets from lapsing,
// until ctx ends.
func (s *Server) renewLeases(ctx context.Context) {
	s.everySockets(ctx, s.socketLeaseRenew(), func(ctx context.Context, conns []*conn) {
		ctx, cancel := context.WithTimeout(ctx, s.socketLeaseRenew()/2)
		defer cancel()
		pipe := s.rdb.Pipeline()
		held := 0
		for _, c := range conns {
			if c.lease != "" {
				renewLease.Eval(ctx, pipe, []string{s.leasesKey(c.sess.User)}, c.lease, s.cfg.SocketLease.Milliseconds())
				held++
			}
		}
		if held == 0 {
			return
		}
		if _, err := pipe.Exec(ctx); err != nil {
			s.log.Warn("socket leases not renewed", "sockets", held, "err", err)
		}
	})
}
