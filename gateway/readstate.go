package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nuid"
	"golang.org/x/sync/errgroup"

	"github.com/chillin-chat/chillin/events"
)

// Read positions (docs/adr/0015-read-positions.md). A client reports how far
// it has read a room with `room:read {room, seq}` as often as it likes; each
// report that moves forward would be a fact forever, so the gateway
// coalesces them per (user, room): the first report of a quiet room goes
// out at once, later ones wait for the end of its window (readInterval) and
// only the highest goes, if it is past what was sent. The validator decides
// what remains (a member, seq <= head, forward only).
const (
	// readInterval is the least time between two room.read commands of one
	// user and room from this gateway.
	readInterval = 3 * time.Second
	// maxReadRooms bounds the rooms of one user with a window open: a
	// report for one more room is dropped (the client reports again as it
	// reads on).
	maxReadRooms = 64
	// readPublishTimeout bounds the append of one room.read.
	readPublishTimeout = 5 * time.Second
)

// readReports coalesces the room:read reports of this gateway's users. Its
// zero value is ready; an entry lives from a report until a window passes
// with nothing more to send.
type readReports struct {
	mu       sync.Mutex
	users    map[string]map[string]*readWindow // by user, then room
	interval time.Duration                     // 0: readInterval
	// after runs f once d has passed (time.AfterFunc; tests replace it).
	after func(d time.Duration, f func())
}

// readWindow is one (user, room) with a window open.
type readWindow struct {
	sent    uint64 // the highest seq sent
	pending uint64 // the highest seq reported since, if above sent
	session string // the session of the latest report
	send    func(session string, seq uint64)
}

// report records that user (on session) has read room up to seq, and
// sends what is due now. send appends the command; it runs outside the
// lock.
func (rr *readReports) report(user, session, room string, seq uint64, send func(session string, seq uint64)) {
	rr.mu.Lock()
	if rr.users == nil {
		rr.users = map[string]map[string]*readWindow{}
	}
	rooms := rr.users[user]
	if rooms == nil {
		rooms = map[string]*readWindow{}
		rr.users[user] = rooms
	}
	w := rooms[room]
	if w != nil {
		if seq > max(w.sent, w.pending) {
			w.pending, w.session = seq, session
		}
		rr.mu.Unlock()
		return
	}
	if len(rooms) >= maxReadRooms {
		rr.mu.Unlock()
		return
	}
	w = &readWindow{sent: seq, session: session, send: send}
	rooms[room] = w
	rr.arm(user, room)
	rr.mu.Unlock()
	send(session, seq)
}

// arm starts the window of (user, room); rr.mu is held.
func (rr *readReports) arm(user, room string) {
	interval, after := rr.interval, rr.after
	if interval <= 0 {
		interval = readInterval
	}
	if after == nil {
		after = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	after(interval, func() { rr.close(user, room) })
}

// close ends the window of (user, room): the highest seq reported during
// it goes out and opens the next window, or, with nothing to send, the
// entry is forgotten.
func (rr *readReports) close(user, room string) {
	rr.mu.Lock()
	rooms := rr.users[user]
	w := rooms[room]
	if w == nil {
		rr.mu.Unlock()
		return
	}
	if w.pending <= w.sent {
		delete(rooms, room)
		if len(rooms) == 0 {
			delete(rr.users, user)
		}
		rr.mu.Unlock()
		return
	}
	seq, session, send := w.pending, w.session, w.send
	w.sent, w.pending = seq, 0
	rr.arm(user, room)
	rr.mu.Unlock()
	send(session, seq)
}

// flush sends, for every window open, the highest seq reported during it
// if past what was sent, and forgets every window: the gateway is stopping,
// and a report waiting for its window's end would stop with it. It returns
// once they were sent, or when ctx ends. The windows' timers then find
// nothing to do.
func (rr *readReports) flush(ctx context.Context) {
	type due struct {
		session string
		seq     uint64
		send    func(session string, seq uint64)
	}
	rr.mu.Lock()
	var out []due
	for _, rooms := range rr.users {
		for _, w := range rooms {
			if w.pending > w.sent {
				out = append(out, due{w.session, w.pending, w.send})
			}
		}
	}
	rr.users = nil
	rr.mu.Unlock()
	if len(out) == 0 {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var g errgroup.Group
		g.SetLimit(flushParallel)
		for _, d := range out {
			g.Go(func() error {
				d.send(d.session, d.seq)
				return nil
			})
		}
		_ = g.Wait() // the sends report nothing
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// flushParallel bounds the room.read commands flush appends at once.
const flushParallel = 16

// onRead handles `room:read`: how far the client has read a room it is in
// on this connection (handle checked it). It is answered at once (when it
// has a ref); the command follows, coalesced.
func (c *conn) onRead(f clientFrame) error {
	var d struct {
		Room string `json:"room"`
		Seq  uint64 `json:"seq"`
	}
	if err := decodeData(f, &d); err != nil {
		return err
	}
	s, user, room := c.s, c.sess.User, d.Room
	s.readReports.report(user, c.sess.ID, room, d.Seq, func(session string, seq uint64) {
		s.sendRead(user, session, room, seq)
	})
	if f.Ref != "" {
		c.reply(f.Ref, map[string]any{})
	}
	return nil
}

// sendRead appends a room.read. Nobody waits for it: its fact reaches the
// user's sockets as `room:read`, and a refusal is dropped.
func (s *Server) sendRead(user, session, room string, seq uint64) {
	now := time.Now()
	cmd, err := events.NewCommand(events.CmdRoomRead, nuid.Next(), user, session, room, now, events.RoomRead{Seq: seq})
	if err != nil {
		s.log.Error("encode room.read", "err", err)
		return
	}
	cmd.Deadline = now.Add(s.cfg.CommandLifetime).UTC()
	ctx, cancel := context.WithTimeout(context.Background(), readPublishTimeout)
	defer cancel()
	if err := s.appendCommand(ctx, cmd); err != nil {
		s.log.Debug("room.read not appended", "room", room, "user", user, "err", err)
	}
}
