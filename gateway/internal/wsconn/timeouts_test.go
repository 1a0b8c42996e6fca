package wsconn

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chillin-chat/chillin/events/opshttp"
	"github.com/chillin-chat/chillin/events/opshttp/opshttptest"
)

// A WebSocket accepted this package's way outlives the server's read and
// write timeouts, while a client sending its headers slowly is closed.
func TestTimeoutsSpareWebSockets(t *testing.T) {
	const timeout = 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := opshttp.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &batchHijacker{ResponseWriter: w, timeout: 5 * time.Second}
		ws, err := websocket.Accept(hj, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for { // echo
			typ, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			if err := ws.Write(context.Background(), typ, b); err != nil {
				return
			}
		}
	}), opshttp.Timeouts{ReadHeader: timeout, Read: timeout, Write: timeout, Idle: timeout})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for i := range 3 {
		time.Sleep(3 * timeout) // past every server timeout
		if err := ws.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
			t.Fatalf("write %d after %v: %v", i, 3*timeout*time.Duration(i+1), err)
		}
		if _, b, err := ws.Read(ctx); err != nil || string(b) != "ping" {
			t.Fatalf("echo %d after %v: %q %v", i, 3*timeout*time.Duration(i+1), b, err)
		}
	}

	if took := opshttptest.Slowloris(t, ln.Addr().String(), 20*time.Millisecond, 10*time.Second); took > 5*time.Second {
		t.Errorf("a slow client held the connection %v", took)
	}
}
