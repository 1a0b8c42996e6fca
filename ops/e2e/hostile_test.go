package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chillin-chat/chillin/events"
)

// A room id too long for a subject went straight into a NATS subject:
// nats-server closed the gateway's connection for good ("maximum control
// line exceeded") and every later request failed. Now the edge refuses it,
// and a space, and the gateway goes on serving.
func TestEdgeRefusesIDsOutsideTheirGrammar(t *testing.T) {
	s := newSystem(t)
	tok := s.register("mallory")
	c := s.dial(tok)
	for _, room := range []string{strings.Repeat("a", 5000), "a b", "a.>", "General", ""} {
		c.write(map[string]any{"type": "room:leave", "ref": "x", "data": map[string]any{"room": room}})
		f := c.next(5 * time.Second)
		var e events.Error
		_ = json.Unmarshal(f.Data, &e)
		if f.Type != "error" || f.Ref != "x" || e.Code != events.CodeInvalidRoom || !strings.HasPrefix(e.Message, "room:") {
			t.Fatalf("room:leave %.20q: %s %s, want an INVALID_ROOM error naming room", room, f.Type, f.Data)
		}
	}
	c.write(map[string]any{"type": "message:send", "ref": "y", "data": map[string]any{"room": "lobby", "clientId": "a b", "text": "hi"}})
	if f := c.next(5 * time.Second); f.Type != "error" || !strings.Contains(string(f.Data), `"code":"BAD_FRAME"`) || !strings.Contains(string(f.Data), "clientId") {
		t.Fatalf("clientId with a space: %s %s, want BAD_FRAME naming clientId", f.Type, f.Data)
	}
	var out struct{ Error *events.Error }
	for _, path := range []string{"/api/rooms/A%20B/messages", "/api/rooms/" + strings.Repeat("a", 65), "/api/rooms/a.b/members"} {
		if code := s.api("GET", path, tok, nil, &out); code != http.StatusBadRequest || out.Error == nil || out.Error.Code != events.CodeInvalidRoom {
			t.Fatalf("GET %s: %d %+v, want 400 INVALID_ROOM", path, code, out.Error)
		}
	}
	for _, q := range []string{"limit=0", "limit=x", "limit=1001", "before=-3", "cursor=a%20b", "q=%00", "limit=1&limit=2"} {
		if code := s.api("GET", "/api/rooms?"+q, tok, nil, &out); code != http.StatusBadRequest || out.Error == nil || out.Error.Code != events.CodeBadRequest {
			t.Fatalf("GET /api/rooms?%s: %d %+v, want 400 BAD_REQUEST", q, code, out.Error)
		}
	}
	conversation(t, s)
}

// Random frame sequences (known types with random fields, huge values, bad
// UTF-8, deep JSON, garbage) do not break the gateway: afterwards it is
// ready and serves a normal conversation on its one NATS connection. The
// run is bounded in frames and time; CHILLIN_FUZZ_SEED replays one.
func TestHostileFramesLeaveTheGatewayServing(t *testing.T) {
	s := newSystem(t, withFrameRate(5000))
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CHILLIN_FUZZ_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("CHILLIN_FUZZ_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))
	tok := s.register("mallory")
	room := s.createRoom(tok, "Fuzz Target")

	const frames = 3000
	deadline := time.Now().Add(20 * time.Second)
	codes := &codeCounts{n: map[string]int{}} // error codes the gateway answered
	sock := dialHostile(t, s, tok, codes)
	sent, redials := 0, 0
	for ; sent < frames && time.Now().Before(deadline); sent++ {
		typ, b := hostileFrame(rng, room)
		if err := sock.Write(context.Background(), typ, b); err != nil {
			// The gateway closed the socket (a frame over 16 KiB, say):
			// open another and go on.
			redials++
			sock = dialHostile(t, s, tok, codes)
		}
	}
	sock.Close(websocket.StatusNormalClosure, "")
	t.Logf("%d hostile frames sent, %d sockets reopened", sent, redials)
	if sent < frames/10 {
		t.Fatalf("only %d frames sent", sent)
	}
	for _, code := range []string{events.CodeBadFrame, events.CodeInvalidRoom} {
		if codes.get(code) == 0 {
			t.Errorf("no %s error frame among the answers", code)
		}
	}

	// nats.go never reopens a connection it closed, and a gateway whose
	// connection is closed for good stops (natsconn): ready now, with NATS
	// connected, means the connection was never closed.
	if code, status := getStatus(t, s.baseURL+"/ready"); code != http.StatusOK {
		t.Fatalf("/ready after the hostile frames: %s", status)
	}
	conversation(t, s)
}

// conversation is a normal one on s's gateway: two users register, one
// creates a room, both join, one sends and both receive it.
func conversation(t *testing.T, s *system) {
	t.Helper()
	alice, bob := s.register("alice-after"), s.register("bob-after")
	room := s.createRoom(alice, "Normal Conversation")
	ca, cb := s.dial(alice), s.dial(bob)
	ca.join(room, nil)
	cb.join(room, nil)
	ca.send(room, "hello-1", "hello after the storm")
	for _, c := range []*client{ca, cb} {
		if m := c.posted(); m.Text != "hello after the storm" || m.ClientID != "hello-1" {
			t.Fatalf("%s received %+v", c.user, m)
		}
	}
}

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Status
}

// codeCounts counts error codes, from several sockets' readers.
type codeCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *codeCounts) add(code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[code]++
}

func (c *codeCounts) get(code string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[code]
}

// dialHostile opens a socket whose reader counts the codes of the error
// frames it gets and drops everything else. A socket the gateway closed
// may not be counted off yet: a refused handshake is tried again.
func dialHostile(t *testing.T, s *system, token string, codes *codeCounts) *websocket.Conn {
	t.Helper()
	var ws *websocket.Conn
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var resp *http.Response
		var err error
		ws, resp, err = websocket.Dial(ctx, s.wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
		cancel()
		if err == nil {
			break
		}
		if resp == nil || resp.StatusCode != http.StatusTooManyRequests || attempt == 50 {
			t.Fatalf("dial: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ws.SetReadLimit(1 << 20)
	go func() {
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var f struct {
				Type string
				Data struct{ Code string }
			}
			if json.Unmarshal(b, &f) != nil || f.Type != "error" {
				continue
			}
			codes.add(f.Data.Code)
		}
	}()
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

var frameTypes = []string{
	"room:join", "room:leave", "room:sync", "message:send", "message:edit", "message:delete",
	"reaction:add", "reaction:remove", "heartbeat", "typing:start", "typing:stop", "presence:set",
}

var fieldNames = []string{
	"room", "password", "after", "limit", "clientId", "text", "attachments", "replyTo", "id", "emoji", "status", "t", "x",
}

// hostileFrame returns one random frame: mostly a known type with random
// fields, sometimes garbage.
func hostileFrame(rng *rand.Rand, room string) (websocket.MessageType, []byte) {
	switch rng.IntN(20) {
	case 0:
		return websocket.MessageBinary, []byte{0xff, 0x00, 0x7b}
	case 1: // bad UTF-8 in a field
		return websocket.MessageText, []byte(`{"type":"` + pick(rng, frameTypes) + `","data":{"room":"\xff\xfe` + room + `","text":"\xc3\x28","clientId":"\xed\xa0\x80"}}`)
	case 2: // truncated JSON
		b, _ := json.Marshal(map[string]any{"type": pick(rng, frameTypes), "data": randomObject(rng, room, 2)})
		return websocket.MessageText, b[:rng.IntN(len(b))]
	case 3: // deep JSON as data
		d := 1 + rng.IntN(3000)
		return websocket.MessageText, []byte(`{"type":"` + pick(rng, frameTypes) + `","data":` + strings.Repeat("[", d) + strings.Repeat("]", d) + `}`)
	case 4: // an unknown, huge or missing type
		b, _ := json.Marshal(map[string]any{"type": randomValue(rng, room, 1), "ref": randomValue(rng, room, 1), "data": randomObject(rng, room, 2)})
		return websocket.MessageText, b
	case 5: // a room id over nats-server's control line limit
		b, _ := json.Marshal(map[string]any{"type": pick(rng, []string{"room:join", "room:leave"}),
			"data": map[string]any{"room": strings.Repeat("a", 4000+rng.IntN(10000))}})
		return websocket.MessageText, b
	case 6: // over the frame limit: the socket is closed
		if rng.IntN(10) == 0 {
			return websocket.MessageText, []byte(`{"type":"heartbeat","data":{"t":"` + strings.Repeat("a", 17<<10) + `"}}`)
		}
	}
	f := map[string]any{"type": pick(rng, frameTypes), "data": randomObject(rng, room, 3)}
	if rng.IntN(4) == 0 {
		f["ref"] = randomValue(rng, room, 1)
	}
	if rng.IntN(10) == 0 {
		f["data"] = randomValue(rng, room, 3)
	}
	b, _ := json.Marshal(f)
	return websocket.MessageText, b
}

func pick(rng *rand.Rand, from []string) string { return from[rng.IntN(len(from))] }

func randomObject(rng *rand.Rand, room string, depth int) map[string]any {
	o := map[string]any{}
	for range rng.IntN(6) {
		o[pick(rng, fieldNames)] = randomValue(rng, room, depth)
	}
	return o
}

func randomValue(rng *rand.Rand, room string, depth int) any {
	switch rng.IntN(16) {
	case 0:
		return room
	case 1:
		return strings.Repeat("a", rng.IntN(6000))
	case 2:
		return pick(rng, []string{"a b", "a.b", "a.>", "*", ">", "", "General", "../x", "lobby\x00", "\u202egnp", "room\r\n"})
	case 3:
		return string(rune(rng.IntN(0x10ffff)))
	case 4:
		return rng.Int64() - rng.Int64()
	case 5:
		return pick(rng, []string{"0", "-1", "1.5", "1e300", "18446744073709551616", "9007199254740993"})
	case 6:
		return json.Number(pick(rng, []string{"0", "-1", "1.5", "1e300", "18446744073709551616", "9007199254740993"}))
	case 7:
		return rng.IntN(2) == 0
	case 8:
		return nil
	case 9:
		if depth > 0 {
			a := make([]any, rng.IntN(12))
			for i := range a {
				a[i] = randomValue(rng, room, depth-1)
			}
			return a
		}
	case 10:
		if depth > 0 {
			return randomObject(rng, room, depth-1)
		}
	case 11:
		return pick(rng, []string{"online", "away", "busy", "gone"})
	case 12:
		return uint64(rng.IntN(100))
	case 13:
		return pick(rng, []string{"👍", "🎉", "spam1", strings.Repeat("😀", 20)})
	case 14:
		return fmt.Sprint("c-", rng.IntN(1000))
	}
	return errors.New("x").Error()
}
