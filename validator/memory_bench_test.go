package validator

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkMemoryFlow pushes messages through many rooms into one validator
// and reports the heap it holds (live bytes after a collection) once 10 %,
// 50 % and 100 % of them are decided. It runs the flow once, whatever b.N:
//
//	source var/deps.env && cd validator && go test -run XXX -bench MemoryFlow -benchtime 1x -timeout 2h .
//
// CHILLIN_BENCH_MESSAGES (default 1,000,000) and CHILLIN_BENCH_ROOMS (default
// 10,000) set the flow; CHILLIN_BENCH_ROOM_CACHE_MB, if set, is the
// validator's room cache (-room-cache-mb), otherwise its default. Given
// CHILLIN_BENCH_NATS_SERVER, the path of a nats-server binary of the version
// the module requires (go build -o /tmp/nats-server
// github.com/nats-io/nats-server/v2), the server runs as a process of its
// own so that its memory is not counted; otherwise it runs in-process.
func BenchmarkMemoryFlow(b *testing.B) {
	total := benchEnv(b, "CHILLIN_BENCH_MESSAGES", 1_000_000)
	nRooms := benchEnv(b, "CHILLIN_BENCH_ROOMS", 10_000)
	const nUsers = 1000
	h, url := benchHarness(b)
	users := make([]string, nUsers)
	for i := range users {
		users[i] = fmt.Sprintf("u%04d", i)
		h.session(users[i])
	}
	rooms := make([]string, nRooms)
	for i := range rooms {
		rooms[i] = fmt.Sprintf("r%05d", i)
		h.createRoom(rooms[i], users[i%nUsers], false, "")
	}
	cfg := Config{
		NATSURL: url, RedisURL: redistest.URL(), RedisPrefix: h.prefix,
		RateLimit: 1 << 30, RateLimits: ratelimit.Rules{}, Logger: testLogger(b),
	}
	if mb := benchEnv(b, "CHILLIN_BENCH_ROOM_CACHE_MB", 0); mb > 0 {
		cfg.RoomCacheBytes = mb << 20
	}
	h.start(cfg)
	h.waitPulling()

	start := time.Now()
	next := 0
	for _, pct := range []int{10, 50, 100} {
		until := total * pct / 100
		for ; next < until; next++ {
			room := next % nRooms
			user := users[room%nUsers]
			cmd, err := events.NewCommand(events.CmdMessageSend, fmt.Sprintf("m%d", next), user, h.session(user), rooms[room], time.Now(),
				events.MessageSend{Text: "hello, a message of ordinary length for a chat room", ClientID: fmt.Sprintf("c%d", next)})
			if err != nil {
				b.Fatal(err)
			}
			data, err := json.Marshal(cmd)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := h.js.PublishAsync(events.RoomCmdSubject(cmd.Room), data, jetstream.WithMsgID(cmd.ID)); err != nil {
				b.Fatal(err)
			}
			if next%2000 == 1999 {
				benchPace(b, h, 20_000)
			}
		}
		benchPace(b, h, 0)
		h.waitSettled()
		heap := liveHeap()
		// Printed as it goes (b.Logf shows only once the run ends): a long
		// run's figures are read while it runs.
		fmt.Fprintf(os.Stderr, "%3d %%: %d messages decided in %v, live heap %.1f MB\n", pct, until, time.Since(start).Round(time.Second), float64(heap)/(1<<20))
		b.ReportMetric(float64(heap)/(1<<20), fmt.Sprintf("heap-MB@%d%%", pct))
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "msgs/s")
}

// benchPace waits for the async publishes, then until at most backlog
// commands await a decision.
func benchPace(b *testing.B, h *harness, backlog uint64) {
	b.Helper()
	select {
	case <-h.js.PublishAsyncComplete():
	case <-time.After(waitFor):
		b.Fatal("publishes not acked")
	}
	for {
		info, err := h.cmds.Info(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if info.State.Msgs <= backlog {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// liveHeap is the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	time.Sleep(100 * time.Millisecond) // let the last acks go out
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func benchEnv(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: not a count", name, s)
	}
	return n
}

// benchHarness is a harness whose NATS server is a process of its own if
// CHILLIN_BENCH_NATS_SERVER names its binary, and its URL.
func benchHarness(b *testing.B) (*harness, string) {
	bin := os.Getenv("CHILLIN_BENCH_NATS_SERVER")
	if bin == "" {
		b.Log("no CHILLIN_BENCH_NATS_SERVER: the server runs in-process and its heap is counted too")
		h := newHarness(b)
		return h, h.srv.ClientURL()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv := exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", b.TempDir())
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	})
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	var nc *nats.Conn
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if nc, err = nats.Connect(url); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("nats-server: %v", err)
		}
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	h := &harness{t: b, nc: nc, js: js, prefix: redistest.Prefix(b), sessions: map[string]string{}}
	for _, s := range []struct {
		name string
		dst  *jetstream.Stream
	}{{events.EvtStream, &h.evt}, {events.CmdStream, &h.cmds}, {events.RejStream, &h.rej}} {
		if *s.dst, err = js.Stream(ctx, s.name); err != nil {
			b.Fatal(err)
		}
	}
	return h, url
}
