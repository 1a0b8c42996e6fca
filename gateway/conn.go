package gateway

import (
	"context"
	"strconv"
	"sync/atomic"

	"golang.org/x/time/rate"

	"github.com/chillin-chat/chillin/gateway/internal/wsconn"
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
