package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// client is one load connection. Its counters are written by its own
// goroutines and read atomically by the reporter. Like the web app, it
// reconnects when its socket is lost (failover.go).
type client struct {
	idx      int
	run      string        // every clientId of this run starts with it: "<nonce>-"
	joined   chan struct{} // closed when the server answered the first room:join
	joinOnce sync.Once
	tag      string // this client's clientId prefix: run + "<idx>-"
	user     string
	room     string
	ip       int                            // source address 127.0.ip.1
	ws       atomic.Pointer[websocket.Conn] // the current socket; nil while reconnecting
	live     atomic.Bool                    // the current socket has joined the room: sends go out
	token    string                         // the session; only the connection's goroutine uses it after setup

	sent, accepted, delivered atomic.Int64
	errors                    atomic.Int64
	lastFrame                 atomic.Int64 // unix ns of the newest frame other than a heartbeat answer
	mu                        sync.Mutex
	latencies                 []int64 // µs, send→deliver, the first delivery of each message this client saw
	decided                   []int64 // µs, send→decided (the fact's time), for its own messages
	rejected                  map[string]int
	failover                  // guarded by mu
}

// network is what a client needs to connect, and to log in again.
type network struct {
	wsURL, authBase string
	httpc           *http.Client
}

// dial opens a WebSocket from the client's source address with its token;
// on a refused handshake it also returns the HTTP status.
func (c *client) dial(ctx context.Context, nw *network) (*websocket.Conn, int, error) {
	dialer := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(c.ip), 1)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, nw.wsURL, &websocket.DialOptions{
		HTTPClient: hc, HTTPHeader: http.Header{"Authorization": {"Bearer " + c.token}},
	})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, fmt.Errorf("client %d: %w", c.idx, err)
	}
	ws.SetReadLimit(1 << 20)
	return ws, 0, nil
}

func write(ctx context.Context, ws *websocket.Conn, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return ws.Write(wctx, websocket.MessageText, b)
}

// join joins the client's room on ws: the first time for the recent
// history, after a lost socket with after = the last room seq it saw, as
// the web app does, so that the server sends exactly what it missed.
func (c *client) join(ctx context.Context, ws *websocket.Conn) error {
	data := map[string]any{"room": c.room}
	c.mu.Lock()
	if c.resume {
		data["after"] = c.lastSeq
	}
	c.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"type": "room:join", "ref": "join", "data": data})
	return write(ctx, ws, b)
}

// phasedTimer fires first at a random point within interval, so that the
// clients' periodic frames do not beat in step. The phase is drawn at full
// resolution: with a few hundred possible phases, thousands of clients would
// send in bursts, several at the same instant.
func phasedTimer(interval time.Duration) *time.Timer {
	return time.NewTimer(mrand.N(interval))
}

// heartbeat sends a `heartbeat` frame every interval, as the web app does,
// from a random phase, until ctx ends.
func (c *client) heartbeat(ctx context.Context, interval time.Duration) {
	timer := phasedTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(interval)
		ws := c.ws.Load()
		if ws == nil {
			continue // reconnecting
		}
		b := []byte(`{"type":"heartbeat","data":{"t":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `}}`)
		// A failed write is a lost socket: its reader sees it too, and
		// the client reconnects.
		_ = write(ctx, ws, b)
	}
}

// send sends rate messages per second until stop, each text starting with
// its send time in Unix nanoseconds. While the client has no joined socket
// (it is reconnecting) its turns pass unsent, as the web app cannot send
// then either.
func (c *client) send(ctx context.Context, stop <-chan struct{}, rate float64, size int) {
	interval := time.Duration(float64(time.Second) / rate)
	timer := phasedTimer(interval)
	defer timer.Stop()
	pad := strings.Repeat("x", size)
	prefix := []byte(`{"type":"message:send","data":{"room":"` + c.room + `","clientId":"` + c.tag)
	var buf []byte
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(interval)
		ws := c.ws.Load()
		if ws == nil || !c.live.Load() {
			continue
		}
		ts := strconv.FormatInt(time.Now().UnixNano(), 10)
		buf = append(buf[:0], prefix...)
		buf = strconv.AppendInt(buf, int64(n), 10)
		buf = append(buf, `","text":"t=`...)
		buf = append(buf, ts...)
		buf = append(buf, ' ')
		buf = append(buf, pad[:size-len(ts)-3]...)
		buf = append(buf, `"}}`...)
		if err := write(ctx, ws, buf); err != nil {
			continue // the socket is lost: its reader reconnects
		}
		c.sent.Add(1)
	}
}

// factTime reads the fact's time ("at", set when the validator decided it)
// from an event frame.
func factTime(b []byte) (int64, bool) {
	i := bytes.Index(b, atMarker)
	if i < 0 {
		return 0, false
	}
	rest := b[i+len(atMarker):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	if err != nil {
		return 0, false
	}
	return t.UnixNano(), true
}

var (
	atMarker     = []byte(`"at":"`)
	typeEvent    = []byte(`{"type":"event"`)
	seqMarker    = []byte(`"seq":`)
	kindPosted   = []byte(`"kind":"message.posted"`)
	textMarker   = []byte(`"text":"t=`)
	typeReject   = []byte(`{"type":"rejected"`)
	joinReply    = []byte(`{"type":"reply","ref":"join"`)
	heartbeatAck = []byte(`{"type":"heartbeat:ack"`)
	codeMarker   = []byte(`"code":"`)
	clientIDKey  = []byte(`"clientId":"`)
)

// read hands every frame of ws to c.frame until the socket ends, and
// returns why it ended. It does not decode whole frames: the load tool's own
// cost per frame counts against the same cores.
func (c *client) read(ws *websocket.Conn) error {
	var buf bytes.Buffer // reused: a frame's bytes are not kept past its turn
	for {
		// Not ctx: a read with a cancellable context costs a callback
		// registration per frame. The reads end when the socket is closed.
		_, r, err := ws.Reader(context.Background())
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			return err
		}
		c.frame(buf.Bytes(), time.Now().UnixNano())
	}
}

// frame counts one frame received at now (unix ns): deliveries of this
// run's messages (the first of each room seq; a repeat is a duplicate, see
// failover.go), their latency, the answers to the client's own sends, and
// the join's answer.
func (c *client) frame(b []byte, now int64) {
	if !bytes.HasPrefix(b, heartbeatAck) {
		c.lastFrame.Store(now)
	}
	switch {
	case bytes.HasPrefix(b, typeEvent):
		seq, ok := intAfter(b, seqMarker)
		if !ok {
			return
		}
		c.mu.Lock()
		c.lastSeq = max(c.lastSeq, seq)
		c.mu.Unlock()
		if !bytes.Contains(b, kindPosted) {
			return
		}
		k := bytes.Index(b, clientIDKey)
		if k < 0 || !bytes.HasPrefix(b[k+len(clientIDKey):], []byte(c.run)) {
			return // not sent by this run (an earlier run's, sent on joining)
		}
		sent, ok := intAfter(b, textMarker)
		if !ok {
			return
		}
		id := b[k+len(clientIDKey):]
		own := bytes.HasPrefix(id, []byte(c.tag))
		var n uint64
		if own {
			n, _ = intAfter(id, []byte(c.tag))
		}
		c.mu.Lock()
		first, answer := c.received(seq, own, n)
		if first {
			c.latencies = append(c.latencies, (now-int64(sent))/1000)
		}
		c.mu.Unlock()
		if !first {
			return
		}
		c.delivered.Add(1)
		if answer {
			c.accepted.Add(1)
			if at, ok := factTime(b); ok {
				c.mu.Lock()
				c.decided = append(c.decided, (at-int64(sent))/1000)
				c.mu.Unlock()
			}
		}
	case bytes.HasPrefix(b, joinReply):
		var r struct {
			Data struct {
				OK       bool   `json:"ok"`
				HeadSeq  uint64 `json:"headSeq"`
				Snapshot bool   `json:"snapshot"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &r); err != nil || !r.Data.OK {
			c.errors.Add(1)
			c.joinOnce.Do(func() { close(c.joined) })
			if ws := c.ws.Load(); ws != nil {
				ws.CloseNow() // joined nowhere: reconnect and join again
			}
			return
		}
		c.mu.Lock()
		c.rejoined(r.Data.HeadSeq, r.Data.Snapshot, time.Unix(0, now))
		c.mu.Unlock()
		c.live.Store(true)
		c.joinOnce.Do(func() { close(c.joined) })
	case bytes.HasPrefix(b, typeReject):
		code := "UNKNOWN"
		if i := bytes.Index(b, codeMarker); i >= 0 {
			rest := b[i+len(codeMarker):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				code = string(rest[:j])
			}
		}
		c.mu.Lock()
		c.rejected[code]++
		c.mu.Unlock()
	}
}

// intAfter reads the decimal number that follows the first marker in b.
func intAfter(b, marker []byte) (uint64, bool) {
	i := bytes.Index(b, marker)
	if i < 0 {
		return 0, false
	}
	rest := b[i+len(marker):]
	j := 0
	for j < len(rest) && j < 20 && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.ParseUint(string(rest[:j]), 10, 64)
	return n, err == nil
}
