package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// frame is a server frame as a client reads it.
type frame struct {
	Type string          `json:"type"`
	Ref  string          `json:"ref"`
	Data json.RawMessage `json:"data"`
}

type event struct {
	Room string          `json:"room"`
	Seq  uint64          `json:"seq"`
	ID   uint64          `json:"id"`
	Kind string          `json:"kind"`
	User string          `json:"user"`
	Data json.RawMessage `json:"data"`
}

type message struct {
	ID       uint64 `json:"id"`
	Seq      uint64 `json:"seq"`
	User     string `json:"user"`
	Text     string `json:"text"`
	ClientID string `json:"clientId"`
}

// httpFrom is an HTTP client whose connections leave from source address
// src, so that nginx's ip_hash sees that address.
func httpFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// api calls the REST API at base and decodes the answer into out.
func api(t *testing.T, base, method, path, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpFrom("127.0.0.1").Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func register(t *testing.T, base, user string) string {
	t.Helper()
	var a struct{ Token string }
	if code := api(t, base, "POST", "/api/auth/register", "", map[string]string{"username": user, "password": "password-" + user}, &a); code != http.StatusCreated {
		t.Fatalf("register %s: %d", user, code)
	}
	return a.Token
}

func createRoom(t *testing.T, base, token, name string) string {
	t.Helper()
	var out struct {
		Room struct{ ID string }
	}
	if code := api(t, base, "POST", "/api/rooms", token, map[string]any{"name": name}, &out); code != http.StatusCreated {
		t.Fatalf("create room %s: %d", name, code)
	}
	return out.Room.ID
}

// client is one user's WebSocket, through nginx, from a chosen source
// address. It keeps, per room, the last seq it saw, and insists on seeing
// every room fact once, in order: the gateway's promise.
type client struct {
	t      *testing.T
	name   string
	base   string // nginx, http://host:port
	src    string // source address
	token  string
	ws     *websocket.Conn
	frames chan frame
	closed chan error
	refs   int
	last   map[string]uint64 // room → last seq seen
}

func dial(t *testing.T, base, src, name, token string) *client {
	t.Helper()
	c := &client{t: t, name: name, base: base, src: src, token: token, last: map[string]uint64{}}
	if err := c.connect(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { c.ws.CloseNow() })
	return c
}

// connect opens a socket and reads its hello.
func (c *client) connect() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.base, "http")+"/ws", &websocket.DialOptions{
		HTTPClient: httpFrom(c.src),
		HTTPHeader: http.Header{"Authorization": {"Bearer " + c.token}},
	})
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		return fmt.Errorf("dial: %d %w", code, err)
	}
	ws.SetReadLimit(1 << 20)
	frames, closed := make(chan frame, 100000), make(chan error, 1)
	go func() {
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				closed <- err
				close(frames)
				return
			}
			var f frame
			if err := json.Unmarshal(b, &f); err != nil {
				closed <- fmt.Errorf("bad frame %s: %w", b, err)
				close(frames)
				return
			}
			if f.Type == "room:joined" || f.Type == "room:left" || f.Type == "room:read" {
				continue // about the user's own list of rooms, which these tests do not follow
			}
			frames <- f
		}
	}()
	c.ws, c.frames, c.closed = ws, frames, closed
	select {
	case f, ok := <-frames:
		if !ok {
			return fmt.Errorf("closed before hello: %w", <-closed)
		}
		if f.Type != "hello" {
			return fmt.Errorf("first frame %s, want hello", f.Type)
		}
	case <-time.After(10 * time.Second):
		return fmt.Errorf("no hello")
	}
	return nil
}

// reconnect does what a client does when its socket is lost: it dials again
// (with backoff, through nginx) and joins each of its rooms with `after` =
// the last seq it saw, returning the facts it missed.
func (c *client) reconnect(rooms ...string) map[string][]event {
	c.t.Helper()
	c.ws.CloseNow()
	deadline := time.Now().Add(30 * time.Second)
	backoff := 50 * time.Millisecond
	for {
		err := c.connect()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s could not reconnect: %v", c.name, err)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
	missed := map[string][]event{}
	for _, room := range rooms {
		after := c.last[room]
		_, missed[room] = c.join(room, &after)
	}
	return missed
}

func (c *client) write(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatalf("%s write: %v", c.name, err)
	}
}

func (c *client) next(timeout time.Duration) frame {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatalf("%s: socket closed: %v", c.name, <-c.closed)
		}
		return f
	case <-time.After(timeout):
		c.t.Fatalf("%s: no frame within %s", c.name, timeout)
	}
	return frame{}
}

// join joins a room (from after, if given) and returns the reply's head seq
// and the facts up to it.
func (c *client) join(room string, after *uint64) (head uint64, evs []event) {
	c.t.Helper()
	c.refs++
	ref := fmt.Sprint("r", c.refs)
	data := map[string]any{"room": room}
	if after != nil {
		data["after"] = *after
		c.last[room] = *after
	}
	c.write(map[string]any{"type": "room:join", "ref": ref, "data": data})
	for {
		f := c.next(15 * time.Second)
		if f.Type == "reply" && f.Ref == ref {
			var r struct {
				OK       bool   `json:"ok"`
				HeadSeq  uint64 `json:"headSeq"`
				Snapshot bool   `json:"snapshot"`
			}
			_ = json.Unmarshal(f.Data, &r)
			if !r.OK || r.Snapshot {
				c.t.Fatalf("%s join %s: %s", c.name, room, f.Data)
			}
			head = r.HeadSeq
			break
		}
		if f.Type == "event" {
			c.t.Fatalf("%s: event before the join reply: %s", c.name, f.Data)
		}
	}
	if after == nil {
		// Without after, the latest facts (at most 50) are sent; take them
		// as the starting point.
		from := uint64(0)
		if head > 50 {
			from = head - 50
		}
		c.last[room] = from
	}
	for c.last[room] < head {
		evs = append(evs, c.event())
	}
	return head, evs
}

// event returns the next room fact, skipping presence and typing frames,
// and fails unless it is the next seq of its room.
func (c *client) event() event {
	c.t.Helper()
	for {
		f := c.next(30 * time.Second)
		switch f.Type {
		case "presence:update", "typing:update", "heartbeat:ack":
			continue
		case "event":
		default:
			c.t.Fatalf("%s: got %s frame %s, want an event", c.name, f.Type, f.Data)
		}
		var ev event
		if err := json.Unmarshal(f.Data, &ev); err != nil {
			c.t.Fatal(err)
		}
		if ev.Seq != c.last[ev.Room]+1 {
			c.t.Fatalf("%s: room %s seq %d after %d", c.name, ev.Room, ev.Seq, c.last[ev.Room])
		}
		c.last[ev.Room] = ev.Seq
		return ev
	}
}

// posted returns the next message of a room, skipping other room facts.
func (c *client) posted() message {
	c.t.Helper()
	for {
		ev := c.event()
		if ev.Kind != "message.posted" {
			continue
		}
		var m message
		_ = json.Unmarshal(ev.Data, &m)
		return m
	}
}

func (c *client) send(room, clientID, text string) {
	c.t.Helper()
	c.write(map[string]any{"type": "message:send", "data": map[string]any{"room": room, "clientId": clientID, "text": text}})
}

// waitClosed waits for the server to close the socket and returns how.
// Room facts that arrive first count as seen.
func (c *client) waitClosed(timeout time.Duration) error {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return <-c.closed
			}
			var ev event
			if f.Type == "event" && json.Unmarshal(f.Data, &ev) == nil && ev.Seq == c.last[ev.Room]+1 {
				c.last[ev.Room] = ev.Seq
			}
		case <-deadline:
			c.t.Fatalf("%s: socket still open after %s", c.name, timeout)
		}
	}
}
