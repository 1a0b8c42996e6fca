package wsconn

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkDeliveryFloor measures what one delivered frame costs with no
// pipeline in front of it: the gateway's write path (conn.write: a batchConn
// held and released around the frame, so one write(2) per frame) on one end, a reader
// like chillin-load's (one read per frame into a reused buffer) on the
// other, over loopback TCP. Frames go out ten at a time to ten different
// sockets, as a message fans out to a room of 10, and the next ten leave only
// once those are read, so no socket ever holds two frames and nothing
// batches: each frame is its own write, wake-up and read, as at (a) and (b)
// of docs/performance.md. "goroutine" writes each frame from a goroutine of
// its own, as the gateway starts a writer for an idle socket; "inline"
// writes all of them from the benchmark's goroutine.
//
// cpu-µs/frame is the process's user and system CPU (both ends and the
// kernel's loopback work) per frame. At fan-out 10, a system on the same
// cores as its load generator can deliver at most cores/(10 × cpu-µs/frame)
// messages per second even if everything before the write were free.
//
//	cd gateway && go test -run XXX -bench DeliveryFloor -count 5 ./internal/wsconn/
func BenchmarkDeliveryFloor(b *testing.B) {
	b.Run("inline", func(b *testing.B) { deliveryFloor(b, false) })
	b.Run("goroutine", func(b *testing.B) { deliveryFloor(b, true) })
}

func deliveryFloor(b *testing.B, goWrite bool) {
	const (
		sockets = 1000
		fanout  = 10
	)
	frame := []byte(`{"type":"event","room":"r-0123456789","event":{"kind":"message.posted","id":1234567,"seq":4242,` +
		`"user":"u-0123456789","at":"2026-11-23T04:00:00.123456789Z","data":{"text":"t=1795406400123456789 ` +
		strings.Repeat("x", 80) + `","clientId":"c-0123456789abcdef"}}}`)

	conns := make(chan *Conn, sockets)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &batchHijacker{ResponseWriter: w, timeout: 10 * time.Second}
		ws, err := websocket.Accept(hj, r, nil)
		if err != nil {
			return
		}
		conns <- &Conn{ws: ws, net: hj.conn} // all that Conn.write uses
	}))
	defer srv.Close()

	ctx := context.Background()
	var read sync.WaitGroup
	readers := make([]*websocket.Conn, sockets)
	for i := range readers {
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			b.Fatal(err)
		}
		readers[i] = c
		go func() {
			var buf bytes.Buffer
			for {
				_, r, err := c.Reader(context.Background())
				if err == nil {
					buf.Reset()
					_, err = buf.ReadFrom(r)
				}
				if err != nil {
					return
				}
				read.Done()
			}
		}()
	}
	writers := make([]*Conn, sockets)
	for i := range writers {
		writers[i] = <-conns
	}
	defer func() {
		for i := range readers {
			readers[i].CloseNow()
			writers[i].ws.CloseNow()
		}
	}()

	frames := [][]byte{frame}
	b.ReportAllocs()
	failed := make(chan error, fanout)
	before := cpuTime(b)
	b.ResetTimer()
	for i := 0; i < b.N; i += fanout {
		n := min(fanout, b.N-i)
		read.Add(n)
		for k := range n {
			w := writers[(i+k)%sockets]
			if goWrite {
				go func() {
					if err := w.write(frames); err != nil {
						failed <- err
						read.Done() // its frame will never be read
					}
				}()
				continue
			}
			if err := w.write(frames); err != nil {
				b.Fatal(err)
			}
		}
		read.Wait()
		select {
		case err := <-failed:
			b.Fatal(err)
		default:
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N), "cpu-µs/frame")
}

// cpuTime is the user and system CPU this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
