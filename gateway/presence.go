package gateway

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Presence lives in Redis, shared by every gateway:
//
//   - <prefix>presence:<user>: a sorted set of the user's sockets (connection
//     ids), each scored with its expiry in Unix ms. The gateway that hosts a
//     socket refreshes it every beat; a socket closed normally is removed at
//     once; the sockets of a gateway that died expire after two beats.
//   - <prefix>online: every online user, scored with the latest expiry of
//     their sockets: room online counts and member lists read it.
//
// A user is online while any of their sockets, on any gateway, is live.
// Every gateway sweeps `online` each beat and takes out users whose sockets
// all expired; whichever removes a user tells the user's rooms. Redis losing
// its data is repaired by the next beat, which writes everything again.

var (
	// presenceDown removes a socket and, if it was the user's last live one,
	// the user from `online`; it returns 1 when the user went offline.
	presenceDown = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 then
  return redis.call('ZREM', KEYS[2], ARGV[3])
end
return 0`)
	// presenceSweep takes a user out of `online` if none of their sockets is
	// live any more; it returns 1 when it did.
	presenceSweep = redis.NewScript(`
if redis.call('ZCOUNT', KEYS[1], ARGV[1], '+inf') == 0 then
  redis.call('DEL', KEYS[1])
  return redis.call('ZREM', KEYS[2], ARGV[2])
end
return 0`)
)

func (s *Server) onlineKey() string             { return s.cfg.RedisPrefix + "online" }
func (s *Server) socketsKey(user string) string { return s.cfg.RedisPrefix + "presence:" + user }
func (s *Server) presenceTTL() time.Duration    { return 2 * s.cfg.PresenceBeat }

// presenceUp registers sockets as live until two beats from now; it returns
// the users among them who were offline before.
func (s *Server) presenceUp(ctx context.Context, conns ...*conn) []string {
	if len(conns) == 0 {
		return nil
	}
	now := time.Now()
	exp := float64(now.Add(s.presenceTTL()).UnixMilli())
	nowMs := strconv.FormatInt(now.UnixMilli(), 10)
	pipe := s.rdb.Pipeline()
	before := map[string]*redis.IntCmd{}
	for _, c := range conns {
		user := c.sess.User
		if before[user] == nil {
			before[user] = pipe.ZCount(ctx, s.socketsKey(user), "("+nowMs, "+inf")
		}
		pipe.ZAdd(ctx, s.socketsKey(user), redis.Z{Score: exp, Member: c.id})
		pipe.PExpire(ctx, s.socketsKey(user), 2*s.presenceTTL())
		pipe.ZAddGT(ctx, s.onlineKey(), redis.Z{Score: exp, Member: user})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		s.log.Debug("presence up", "err", err)
		return nil
	}
	var came []string
	for user, n := range before {
		if n.Val() == 0 {
			came = append(came, user)
		}
	}
	return came
}

// presenceGone unregisters a closed socket; if it was its user's last live
// socket anywhere, the user's rooms are told they are offline.
func (s *Server) presenceGone(c *conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	gone, err := presenceDown.Run(ctx, s.rdb, []string{s.socketsKey(c.sess.User), s.onlineKey()}, c.id, now, c.sess.User).Int()
	if err != nil {
		s.log.Debug("presence down", "user", c.sess.User, "err", err)
		return
	}
	if gone == 1 {
		s.announceOffline(ctx, c.sess.User)
	}
}

// announceOffline tells the user's rooms they went offline. A socket of
// theirs that opened meanwhile (a reload, here or on another gateway) may
// have told the rooms "online" before this reached them; so once a word is
// out, the user's live sockets are counted again, and if the count says
// otherwise, the other word follows: a count taken after the last word
// agrees with it, or a socket that came or went after that count tells the
// rooms itself. Flapping sockets end the exchange after a few words.
func (s *Server) announceOffline(ctx context.Context, user string) {
	online := false
	for range maxPresenceWords {
		status := "offline"
		if online {
			status = s.statusOf(ctx, []string{user})[user]
		}
		s.announcePresence(ctx, user, status)
		now := strconv.FormatInt(time.Now().UnixMilli(), 10)
		live, err := s.rdb.ZCount(ctx, s.socketsKey(user), "("+now, "+inf").Result()
		if err != nil {
			s.log.Debug("presence recount", "user", user, "err", err)
			return
		}
		if online == (live > 0) {
			return
		}
		online = live > 0
	}
}

// maxPresenceWords bounds the words one announceOffline says.
const maxPresenceWords = 4

// announcePresence tells every room the user is a member of.
func (s *Server) announcePresence(ctx context.Context, user, status string) {
	rooms, err := s.reads.RoomsOf(ctx, user)
	if err != nil {
		// Those read before the failure are still told.
		s.log.Debug("presence rooms", "user", user, "err", err)
	}
	now := time.Now().UTC()
	for _, room := range rooms {
		s.publishEphemeral(ctx, ephemeral{Type: "presence:update", From: user, Room: room, Status: status, LastSeen: now})
	}
}

// onlineSet returns the users with a live socket; empty if Redis is away.
func (s *Server) onlineSet(ctx context.Context) map[string]bool {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	users, err := s.rdb.ZRangeByScore(ctx, s.onlineKey(), &redis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
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

// beatPresence refreshes this gateway's sockets every beat and sweeps out
// users whose sockets all expired (their gateway died).
func (s *Server) beatPresence(ctx context.Context) {
	s.everySockets(ctx, s.cfg.PresenceBeat, func(ctx context.Context, conns []*conn) {
		for _, user := range s.presenceUp(ctx, conns...) {
			// Back after Redis lost its data or expired them: say so.
			s.announcePresence(ctx, user, s.statusOf(ctx, []string{user})[user])
		}
		s.sweepPresence(ctx)
	})
}

func (s *Server) sweepPresence(ctx context.Context) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	stale, err := s.rdb.ZRangeByScore(ctx, s.onlineKey(), &redis.ZRangeBy{Min: "-inf", Max: now}).Result()
	if err != nil {
		return
	}
	for _, user := range stale {
		gone, err := presenceSweep.Run(ctx, s.rdb, []string{s.socketsKey(user), s.onlineKey()}, now, user).Int()
		if err == nil && gone == 1 {
			s.announceOffline(ctx, user)
		}
	}
}
