package gateway

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/gateway/internal/hub"
	"github.com/chillin-chat/chillin/gateway/internal/wsconn"
	"github.com/coder/websocket"
)

// conn is one client's socket as the gateway sees it: the transport
// (internal/wsconn: its queue, writer, pings and idle parking) and what the
// gateway keeps of it. Its frames are handled in ws.go.
type conn struct {
	*wsconn.Conn
	s    *Server
	id   string
	sess session
	ctx  context.Context // ends when the socket closes
	// lease is the socket's hold on its user's share of sockets across the
	// gateways (sockets.go); "" if Redis did not answer when it opened.
	lease string
	// unsubUser ends the socket's share of its user's channel (addConn).
	unsubUser func()

	limiter *rate.Limiter   // of the peer's frames; reader only
	rooms   map[string]bool // joined on this socket; reader only
	typist  typist
}

func newConn(s *Server, sess session, wc *wsconn.Conn) *conn {
	return &conn{
		Conn: wc, s: s, sess: sess, ctx: wc.Context(),
		id:      s.id + "." + strconv.FormatUint(atomic.AddUint64(&s.connSeq, 1), 10),
		limiter: rate.NewLimiter(rate.Limit(s.cfg.FrameRate), s.cfg.FrameBurst),
		rooms:   map[string]bool{},
	}
}

// socketConfig bounds the gateway's sockets.
func (s *Server) socketConfig() wsconn.Config {
	return wsconn.Config{
		PingInterval: s.cfg.PingInterval, SendQueue: s.cfg.SendQueue, SendQueueBytes: s.cfg.SendQueueBytes,
		WriteTimeout: writeTimeout, ReadLimit: maxFrame, Poller: s.poller,
		Sent: s.metrics.framesOut.Inc, Dropped: s.metrics.dropped.Inc,
	}
}

// ReadFailed is wsconn's: a read failed other than by a close.
func (c *conn) ReadFailed(err error) {
	c.s.log.Debug("socket read", "user", c.sess.User, "err", err)
}

// Ended is wsconn's: the socket is over.
func (c *conn) Ended() {
	c.s.removeConn(c)
	c.s.metrics.conns.Dec()
}

// addConn registers a socket, subscribes it to its user's channel (the
// hub subscribes the gateway once for all of the user's sockets) and marks
// the user online.
func (s *Server) addConn(c *conn) {
	s.mu.Lock()
	s.conns[c.id] = c
	set := s.byUser[c.sess.User]
	if set == nil {
		set = map[*conn]struct{}{}
		s.byUser[c.sess.User] = set
	}
	set[c] = struct{}{}
	s.mu.Unlock()
	user := c.sess.User // not c: the hub keeps the latest socket's fn
	c.unsubUser = s.hub.SubscribeUser(user, func(p []byte) { s.onUserLive(user, p) })
	if came := s.presenceUp(c.ctx, c); len(came) > 0 {
		// Announced before the socket can close, so "online" never
		// follows the same user's "offline".
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		s.announcePresence(ctx, c.sess.User, s.statusOf(ctx, came)[c.sess.User])
		cancel()
	}
}

func (s *Server) removeConn(c *conn) {
	defer s.releaseSocket(c.sess.User, c.lease)
	c.stopAllTyping()
	for room := range c.rooms {
		s.hub.Leave(room, c)
	}
	s.mu.Lock()
	delete(s.conns, c.id)
	set := s.byUser[c.sess.User]
	delete(set, c)
	if len(set) == 0 {
		delete(s.byUser, c.sess.User)
	}
	s.mu.Unlock()
	if c.unsubUser != nil {
		c.unsubUser()
	}
	s.presenceGone(c)
}

// onUserLive handles a message on a user's channel: a frame for one of the
// user's sockets or for all of them, or a revoked session whose sockets
// must close.
func (s *Server) onUserLive(user string, payload []byte) {
	var m events.UserLive
	if err := json.Unmarshal(payload, &m); err != nil {
		s.log.Warn("bad user payload", "user", user, "err", err)
		return
	}
	s.mu.Lock()
	var targets []*conn
	if m.Revoke != "" {
		for c := range s.byUser[user] {
			if c.sess.ID == m.Revoke {
				targets = append(targets, c)
			}
		}
	} else if m.All {
		for c := range s.byUser[user] {
			targets = append(targets, c)
		}
	} else if c := s.conns[m.Conn]; c != nil && c.sess.User == user {
		targets = append(targets, c)
	}
	s.mu.Unlock()
	if m.All {
		s.leftElsewhere(user, m.Frame, targets)
	}
	for _, c := range targets {
		if m.Revoke != "" {
			c.Close(closeRevoked, "session ended")
		} else {
			c.Send(m.Frame)
		}
	}
}

// leftElsewhere stops the room's live frames to the user's sockets here
// when frame tells them the user left a room (room:left, in any tab or on
// any device), before they are told: a socket that joined the room before
// the leave gets nothing of it after the leave, and its typing there ends.
// One that joined it again since keeps it.
func (s *Server) leftElsewhere(user string, frame []byte, conns []*conn) {
	var f struct {
		Type string `json:"type"`
		Data struct {
			Room string `json:"room"`
			Seq  uint64 `json:"seq"`
		} `json:"data"`
	}
	if json.Unmarshal(frame, &f) != nil || f.Type != "room:left" || f.Data.Seq == 0 {
		return
	}
	subs := make([]hub.Subscriber, len(conns))
	for i, c := range conns {
		subs[i] = c
	}
	dropped := s.hub.Left(f.Data.Room, f.Data.Seq, subs)
	for _, sub := range dropped {
		sub.(*conn).stopTyping(f.Data.Room)
	}
	if len(dropped) > 0 {
		s.log.Debug("left elsewhere: sockets dropped from the room", "user", user, "room", f.Data.Room, "sockets", len(dropped))
	}
}

// closeAll closes every socket with 1001: the server is going away and
// clients should reconnect (to another instance).
func (s *Server) closeAll() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close(websocket.StatusGoingAway, "server going away")
	}
	// Wait for the close frames to go out (each socket's handler returns
	// after its close handshake), so an exiting process does not cut them.
	deadline := time.Now().Add(closeAllWait)
	for time.Now().Before(deadline) {
		if s.connCount() == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.log.Warn("sockets still closing at shutdown")
}

// connCount is how many sockets the server holds, closing ones included.
func (s *Server) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// everySockets calls f, every period until ctx ends, with the sockets
// this gateway holds at that moment.
func (s *Server) everySockets(ctx context.Context, period time.Duration, f func(ctx context.Context, conns []*conn)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		conns := make([]*conn, 0, len(s.conns))
		for _, c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		f(ctx, conns)
	}
}
