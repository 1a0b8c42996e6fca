package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/projector"
	"github.com/chillin-chat/chillin/projector/cachewriter"
)

func TestRebuildRedisFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"arguments", []string{"rebuild", "-view", "redis", "now"}, "rebuild takes no arguments"},
		{"a window of none", []string{"rebuild", "-view", "redis", "-window", "0"}, "-window 0: want 1 or more"},
		{"a chunk of none", []string{"rebuild", "-view", "redis", "-chunk", "0"}, "-chunk 0: want 1 or more"},
		{"a bad log format", []string{"rebuild", "-view", "redis", "-log-format", "xml"}, `-log-format "xml"`},
		{"a bad Redis URL", []string{"rebuild", "-view", "redis", "-redis", "mysql://x"}, "-redis"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// rebuild -view redis builds the cache from the log; run again, it builds
// the same in a new generation and drops the old one.
func TestRebuildRedis(t *testing.T) {
	url, _ := knownLog(t)
	prefix := redistest.Prefix(t)
	store := cachewriter.NewStore(redistest.Client(t), prefix, 0)
	flags := []string{"rebuild", "-view", "redis", "-nats", url, "-redis", redistest.URL(), "-redis-prefix", prefix}

	out, progress, err := runCmd(t, flags...)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress)
	}
	if !strings.HasPrefix(out, "rebuild: cache generation 1 built from the log through seq 14 (9 room facts) in ") {
		t.Fatalf("summary %q", out)
	}
	if !strings.Contains(progress, "rebuild: 14 facts in ") {
		t.Fatalf("progress %q", progress)
	}
	gen, cp, ok, err := store.Current(ctxT(t))
	if gen != 1 || cp != 14 || !ok || err != nil {
		t.Fatalf("current generation %d at %d (%v, %v)", gen, cp, ok, err)
	}
	_, msgs, _, err := store.ReadRoom(ctxT(t), gen, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || !msgs[0].Deleted || msgs[0].Text != "" || msgs[1].Text != "later" {
		t.Fatalf("lobby: %+v", msgs)
	}
	first, err := store.Dump(ctxT(t), gen)
	if err != nil {
		t.Fatal(err)
	}

	out, _, err = runCmd(t, append(flags, "-chunk", "2")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "cache generation 2 built") || !strings.Contains(out, "it replaced generation 1 (") {
		t.Fatalf("second summary %q", out)
	}
	if second, err := store.Dump(ctxT(t), 2); err != nil || second != first {
		t.Fatalf("second rebuild (%v):\n%s\nfirst:\n%s", err, second, first)
	}
	if old, err := store.Dump(ctxT(t), 1); err != nil || old != "" {
		t.Fatalf("generation 1 left behind (%v):\n%s", err, old)
	}
}

// While the cache view runs and facts keep coming, a rebuild switches to a
// generation that, once the view has caught up, equals the whole log
// applied at once.
func TestRebuildRedisWhileLive(t *testing.T) {
	url, js := newLog(t)
	prefix := redistest.Prefix(t)
	rdb := redistest.Client(t)
	store := cachewriter.NewStore(rdb, prefix, 20)

	ctx, cancel := context.WithCancel(ctxT(t))
	stopped := make(chan error, 1)
	go func() {
		stopped <- projector.Run(ctx, projector.Config{NATSURL: url, RedisURL: redistest.URL(), RedisPrefix: prefix,
			Views: []string{projector.ViewCache}, CacheWindow: 20})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("projector: %v", err)
		}
	})

	// A room with a steady stream of posts, edits and reactions.
	publish := func(ctx context.Context, typ string, seq uint64, data any) (uint64, error) {
		f, err := events.NewFact(typ, "busy", seq, "ann", "", time.Now(), data)
		if err != nil {
			return 0, err
		}
		b, err := f.Encode()
		if err != nil {
			return 0, err
		}
		ack, err := js.Publish(ctx, events.RoomSubject("busy"), b)
		if err != nil {
			return 0, err
		}
		return ack.Sequence, nil
	}
	if _, err := publish(ctxT(t), events.RoomCreated, 1, events.RoomCreatedData{Name: "Busy"}); err != nil {
		t.Fatal(err)
	}
	var (
		wg         sync.WaitGroup
		pubErr     error
		lastPosted uint64
		sending    = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var last uint64
		for seq := uint64(2); ; seq++ {
			select {
			case <-sending:
				return
			default:
			}
			var err error
			switch {
			case seq%7 == 0 && last != 0:
				_, err = publish(ctx, events.MessageEdited, seq, events.MessageEditedData{ID: last, Text: fmt.Sprint("edited ", seq)})
			case seq%5 == 0 && last != 0:
				_, err = publish(ctx, events.ReactionAdded, seq, events.ReactionData{ID: last, Emoji: "👍"})
			default:
				last, err = publish(ctx, events.MessagePosted, seq, events.MessagePostedData{Text: fmt.Sprint("post ", seq), ClientID: fmt.Sprint("c", seq)})
			}
			if err != nil {
				pubErr = err
				return
			}
			lastPosted = last
		}
	}()
	// Let the live view make a generation and apply some traffic first.
	for {
		if _, cp, ok, err := store.Current(ctxT(t)); err == nil && ok && cp > 200 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, progress, err := runCmd(t, "rebuild", "-view", "redis", "-nats", url, "-redis", redistest.URL(), "-redis-prefix", prefix, "-window", "20", "-chunk", "50")
	if err != nil {
		t.Fatalf("%v\n%s", err, progress)
	}
	if !strings.Contains(out, "it replaced generation 1 (") {
		t.Fatalf("summary %q", out)
	}
	time.Sleep(200 * time.Millisecond) // traffic after the switch
	close(sending)
	wg.Wait()
	if pubErr != nil {
		t.Fatal(pubErr)
	}
	st, err := js.Stream(ctxT(t), events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	head := info.State.LastSeq
	var gen uint64
	deadline := time.Now().Add(time.Minute)
	for {
		g, cp, ok, err := store.Current(ctxT(t))
		if err == nil && ok && cp == head {
			gen = g
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the view did not catch up to %d: generation %d at %d (%v %v)", head, g, cp, ok, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if gen != 2 {
		t.Fatalf("current generation %d, want the rebuilt 2", gen)
	}
	got, err := store.Dump(ctxT(t), gen)
	if err != nil {
		t.Fatal(err)
	}

	// The reference: every fact read back and applied at once.
	ref, err := store.NewGen(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	facts, upto, err := cachewriter.Source{JS: js}.Read(ctxT(t), 1, head, int(head))
	if err != nil || upto != head {
		t.Fatalf("read the log: %v (up to %d)", err, upto)
	}
	if res, _, err := store.Apply(ctxT(t), ref, 1, head, facts); err != nil || res.Status != cachewriter.Applied {
		t.Fatalf("reference: %+v %v", res, err)
	}
	want, err := store.Dump(ctxT(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("after a rebuild while live, the cache differs from a full apply (%d facts)", head)
	}
	_, msgs, _, err := store.ReadRoom(ctxT(t), gen, "busy")
	if err != nil || len(msgs) != 20 || msgs[19].ID != lastPosted {
		t.Fatalf("busy room: %d messages (%v), the newest %+v, want %d", len(msgs), err, msgs[len(msgs)-1], lastPosted)
	}
}
