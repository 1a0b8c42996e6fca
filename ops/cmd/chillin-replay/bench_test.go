package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/schema/schematest"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkRebuildPG times `chillin-replay rebuild -view pg` of a log of
// CHILLIN_BENCH_MESSAGES message.posted facts (default 1,000,000) in 20
// rooms by 200 users, into a fresh database, and reports facts/s; then the
// seconds `verify -view pg` of the result takes (verify-s). The log
// is written straight to a fresh JetStream first (not timed); the store and
// the database are removed at the end. Run it once:
//
//	go test -run '^$' -bench RebuildPG -benchtime 1x -timeout 60m ./ops/cmd/chillin-replay
func BenchmarkRebuildPG(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("CHILLIN_BENCH_MESSAGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("CHILLIN_BENCH_MESSAGES=%q: want a positive number", v)
		}
	}
	srv := natstest.Start(b)
	nc, _ := natstest.Connect(b, srv)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	facts := fillLog(b, ctx, js, n)
	b.Logf("log of %d facts (%d messages) written in %s", facts, n, time.Since(start).Round(time.Millisecond))

	for range b.N {
		_, dsn := schematest.NewDB(b)
		var out, progress bytes.Buffer
		b.ResetTimer()
		start := time.Now()
		err := run(ctx, []string{"rebuild", "-view", "pg", "-nats", srv.ClientURL(), "-postgres", dsn}, func(string) string { return "" }, &out, &progress)
		took := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatalf("%v\n%s", err, progress.String())
		}
		b.ReportMetric(float64(facts)/took.Seconds(), "facts/s")
		b.Logf("%s%s", out.String(), lastLine(progress.String()))

		// verify replays the whole log once more and compares every table.
		out.Reset()
		progress.Reset()
		start = time.Now()
		err = run(ctx, []string{"verify", "-view", "pg", "-nats", srv.ClientURL(), "-postgres", dsn}, func(string) string { return "" }, &out, &progress)
		took = time.Since(start)
		if err != nil {
			b.Fatalf("verify: %v\n%s%s", err, out.String(), progress.String())
		}
		b.ReportMetric(took.Seconds(), "verify-s")
		b.Logf("%s\n%s", lastLine(out.String()), lastLine(progress.String()))
	}
}

// fillLog appends users, rooms, joins and n messages to CHAT_EVT, as the
// validator would have, and returns how many facts it appended.
func fillLog(b *testing.B, ctx context.Context, js jetstream.JetStream, n int) int {
	const users, rooms = 200, 20
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	count := 0
	publish := func(subject, typ, room string, seq uint64, user string, data any) {
		f, err := events.NewFact(typ, room, seq, user, fmt.Sprint("bench-", count), at.Add(time.Duration(count)*time.Millisecond), data)
		if err != nil {
			b.Fatal(err)
		}
		body, err := f.Encode()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := js.PublishAsync(subject, body); err != nil {
			b.Fatal(err)
		}
		count++
	}
	name := func(i int) string { return fmt.Sprintf("user%03d", i) }
	for u := range users {
		publish(events.UserSubject(name(u)), events.UserRegistered, "", 0, name(u),
			events.UserRegisteredData{Username: name(u), DisplayName: "User " + strconv.Itoa(u), PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"})
	}
	heads := make([]uint64, rooms)
	room := func(r int) string { return fmt.Sprintf("room-%02d", r) }
	for r := range rooms {
		heads[r]++
		publish(events.RoomSubject(room(r)), events.RoomCreated, room(r), heads[r], name(r), events.RoomCreatedData{Name: "Room " + strconv.Itoa(r)})
		for u := range users {
			if u != r {
				heads[r]++
				publish(events.RoomSubject(room(r)), events.MemberJoined, room(r), heads[r], name(u), events.MemberJoinedData{})
			}
		}
	}
	words := strings.Fields("the quick brown fox jumps over a lazy dog while chillin in the lobby with friends")
	for i := range n {
		r, u := i%rooms, (i/rooms)%users
		heads[r]++
		text := strings.Join(words[i%7:i%7+6+i%5], " ")
		publish(events.RoomSubject(room(r)), events.MessagePosted, room(r), heads[r], name(u),
			events.MessagePostedData{Text: text, ClientID: fmt.Sprintf("c-%d", i)})
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal("appending the log did not complete")
	}
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		b.Fatal(err)
	}
	info, err := evt.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if info.State.Msgs != uint64(count) {
		b.Fatalf("the log holds %d facts, %d were appended", info.State.Msgs, count)
	}
	return count
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
