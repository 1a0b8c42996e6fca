package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events/ratelimit"
)

// Typing and presence updates are ephemeral: they go through each room's
// ephemeral Redis channel (hub.PublishEphemeral) to the room's sockets on
// every gateway, never through the log.
const (
	typingTTL      = 5 * time.Second // a typist who stops refreshing stops typing
	typingThrottle = time.Second     // at most one typing update per user, room and second
)

// ephemeral is a payload of a room's ephemeral channel.
type ephemeral struct {
	Type     string    `json:"type"` // typing:update or presence:update
	From     string    `json:"from"` // whom it is about; their own sockets skip it
	Room     string    `json:"room"`
	Users    []string  `json:"users,omitempty"`  // typing:update: who is typing now
	Status   string    `json:"status,omitempty"` // presence:update
	LastSeen time.Time `json:"lastSeen,omitzero"`
	// Profile is the user a user:update is about (their avatar changed).
	Profile *profileJSON `json:"profile,omitempty"`
}

// Ephemeral turns a room's ephemeral payload into this socket's frame. A
// person never sees their own typing or presence echoed; their own profile
// changes they do see (their other devices show them).
func (c *conn) Ephemeral(payload []byte) {
	var e ephemeral
	if json.Unmarshal(payload, &e) != nil {
		return
	}
	if e.Type == "user:update" && e.Profile != nil {
		c.sendFrame("user:update", "", map[string]any{"user": e.Profile})
		return
	}
	if e.From == c.sess.User {
		return
	}
	switch e.Type {
	case "typing:update":
		users := slices.DeleteFunc(slices.Clone(e.Users), func(u string) bool { return u == c.sess.User })
		if users == nil {
			users = []string{}
		}
		c.sendFrame("typing:update", "", map[string]any{"room": e.Room, "users": users})
	case "presence:update":
		c.sendFrame("presence:update", "", map[string]any{"user": e.From, "status": e.Status, "lastSeen": e.LastSeen})
	}
}

// typist tracks one socket's typing, per room. Its timers run on their own
// goroutines, so it has a lock of its own.
type typist struct {
	mu    sync.Mutex
	rooms map[string]*typing // nil while not typing
}

type typing struct {
	published time.Time   // last update sent
	expire    *time.Timer // stops the typing after typingTTL without a refresh
}

// start marks the user typing in room, publishing at most once per throttle.
func (c *conn) startTyping(room string) {
	c.typist.mu.Lock()
	defer c.typist.mu.Unlock()
	t := c.typist.rooms[room]
	if t == nil {
		if c.typist.rooms == nil {
			c.typist.rooms = map[string]*typing{}
		}
		t = &typing{}
		c.typist.rooms[room] = t
		t.expire = time.AfterFunc(typingTTL, func() { c.stopTyping(room) })
	} else {
		t.expire.Reset(typingTTL)
	}
	if time.Since(t.published) < typingThrottle {
		return
	}
	t.published = time.Now()
	c.s.publishTyping(room, c.sess.User, true)
}

// stopTyping ends the user's typing in room, if it was typing there.
func (c *conn) stopTyping(room string) {
	c.typist.mu.Lock()
	t := c.typist.rooms[room]
	delete(c.typist.rooms, room)
	if len(c.typist.rooms) == 0 {
		c.typist.rooms = nil // a map keeps its memory; most sockets never type
	}
	c.typist.mu.Unlock()
	if t == nil {
		return
	}
	t.expire.Stop()
	c.s.publishTyping(room, c.sess.User, false)
}

// stopAllTyping ends the socket's typing everywhere (it left or closed).
func (c *conn) stopAllTyping() {
	c.typist.mu.Lock()
	rooms := make([]string, 0, len(c.typist.rooms))
	for room := range c.typist.rooms {
		rooms = append(rooms, room)
	}
	c.typist.mu.Unlock()
	for _, room := range rooms {
		c.stopTyping(room)
	}
}

// publishTyping records who is typing in a room (a Redis sorted set scored
// by expiry, shared by all gateways) and tells the room.
func (s *Server) publishTyping(room, user string, on bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	key := s.cfg.RedisPrefix + "typing:" + room
	now := time.Now()
	pipe := s.rdb.TxPipeline()
	if on {
		pipe.ZAdd(ctx, key, redis.Z{Score: float64(now.Add(typingTTL).UnixMilli()), Member: user})
	} else {
		pipe.ZRem(ctx, key, user)
	}
	pipe.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
	users := pipe.ZRange(ctx, key, 0, -1)
	pipe.Expire(ctx, key, 2*typingTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		s.log.Debug("typing", "room", room, "err", err)
		return
	}
	s.publishEphemeral(ctx, ephemeral{Type: "typing:update", From: user, Room: room, Users: users.Val()})
}

func (s *Server) publishEphemeral(ctx context.Context, e ephemeral) {
	b, err := json.Marshal(e)
	if err == nil {
		err = s.hub.PublishEphemeral(ctx, e.Room, b)
	}
	if err != nil {
		s.log.Debug("ephemeral update", "room", e.Room, "type", e.Type, "err", err)
	}
}

// Presence statuses a person can choose.
var statuses = map[string]bool{"online": true, "away": true, "busy": true}

func (s *Server) statusKey() string { return s.cfg.RedisPrefix + "status" }

// statusOf returns the chosen statuses of users (online when none was chosen).
func (s *Server) statusOf(ctx context.Context, users []string) map[string]string {
	out := make(map[string]string, len(users))
	if len(users) == 0 {
		return out
	}
	vals, err := s.rdb.HMGet(ctx, s.statusKey(), users...).Result()
	for i, u := range users {
		out[u] = "online"
		if err == nil {
			if v, ok := vals[i].(string); ok && statuses[v] {
				out[u] = v
			}
		}
	}
	return out
}

func onTyping(start bool) func(*conn, clientFrame) error {
	return func(c *conn, f clientFrame) error {
		var d struct {
			Room string `json:"room"`
		}
		if err := decodeData(f, &d); err != nil {
			return err
		}
		if e := c.s.allow(c.ctx, c.sess.User, ratelimit.Typing, c.frameID()); e != nil {
			c.sendFrame("error", f.Ref, e)
			return nil
		}
		if start {
			c.startTyping(d.Room)
		} else {
			c.stopTyping(d.Room)
		}
		return nil
	}
}

func (c *conn) onPresence(f clientFrame) error {
	var d struct {
		Status string `json:"status"`
	}
	if err := decodeData(f, &d); err != nil {
		return err
	}
	if !statuses[d.Status] {
		return errors.New("status is online, away or busy")
	}
	if e := c.s.allow(c.ctx, c.sess.User, ratelimit.Presence, c.frameID()); e != nil {
		c.sendFrame("error", f.Ref, e)
		return nil
	}
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
	defer cancel()
	if err := c.s.rdb.HSet(ctx, c.s.statusKey(), c.sess.User, d.Status).Err(); err != nil {
		c.s.log.Warn("presence status", "user", c.sess.User, "err", err)
	}
	for room := range c.rooms {
		if !c.inRoom(room) {
			continue // dropped by a leave elsewhere
		}
		c.s.publishEphemeral(ctx, ephemeral{Type: "presence:update", From: c.sess.User, Room: room, Status: d.Status, LastSeen: time.Now().UTC()})
	}
	return nil
}
