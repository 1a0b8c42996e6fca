package projtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
)

// T0 is the time of fact 0; fact n happens n seconds later.
var T0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// At is the time of the fact with stream sequence id.
func At(id uint64) time.Time { return T0.Add(time.Duration(id) * time.Second) }

// Hash is a password hash as facts carry them.
const Hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$3Ck3wGqvQ0x5lQnq1QH5QzS4m8j0m1Yy3c7l9s3m5aE"

// SessionID is the session id of a token: hex SHA-256, as the gateway stores it.
func SessionID(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Fact builds a fact that will have stream sequence id, happening at At(id).
func Fact(tb testing.TB, id uint64, typ, room string, seq uint64, user string, data any) events.Fact {
	tb.Helper()
	f, err := events.NewFact(typ, room, seq, user, fmt.Sprintf("cmd-%d", id), At(id), data)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// Subject is where a fact is appended.
func Subject(f events.Fact) string {
	switch {
	case events.IsRoomFact(f.Type):
		return events.RoomSubject(f.Room)
	case f.Type == events.UserRegistered:
		return events.UserSubject(f.User)
	case f.Type == events.CommandRejected:
		return events.RejectedSubject(f.User)
	default:
		return events.SessionSubject(f.User)
	}
}

// Publish appends facts to CHAT_EVT in order and returns them as stored.
func Publish(tb testing.TB, js jetstream.JetStream, facts ...events.Fact) []events.Stored {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := make([]events.Stored, 0, len(facts))
	for _, f := range facts {
		b, err := f.Encode()
		if err != nil {
			tb.Fatal(err)
		}
		ack, err := js.Publish(ctx, Subject(f), b)
		if err != nil {
			tb.Fatalf("publish %s: %v", f.Type, err)
		}
		out = append(out, events.Stored{ID: ack.Sequence, Fact: f})
	}
	return out
}

// PublishRaw appends bytes that may not be a fact at all.
func PublishRaw(tb testing.TB, js jetstream.JetStream, subject string, data []byte) uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ack, err := js.Publish(ctx, subject, data)
	if err != nil {
		tb.Fatal(err)
	}
	return ack.Sequence
}

// Scenario is a realistic history of 21 facts, to be published to an empty
// stream so that fact i (from 1) gets stream sequence i: message ids in it
// refer to those sequences. ScenarioTables is what the pg view makes of it.
func Scenario(tb testing.TB) []events.Fact {
	tb.Helper()
	s1, s2 := SessionID("token-alice"), SessionID("token-bob")
	f := func(id uint64, typ, room string, seq uint64, user string, data any) events.Fact {
		return Fact(tb, id, typ, room, seq, user, data)
	}
	return []events.Fact{
		f(1, events.UserRegistered, "", 0, "alice", events.UserRegisteredData{Username: "alice", DisplayName: "Alice", PasswordHash: Hash}),
		f(2, events.UserRegistered, "", 0, "bob", events.UserRegisteredData{Username: "bob", PasswordHash: Hash}),
		f(3, events.SessionStarted, "", 0, "alice", events.SessionData{Session: s1, ExpiresAt: At(3).Add(24 * time.Hour)}),
		f(4, events.SessionStarted, "", 0, "bob", events.SessionData{Session: s2, ExpiresAt: At(4).Add(24 * time.Hour)}),
		f(5, events.RoomCreated, "general", 1, "alice", events.RoomCreatedData{Name: "General", Description: "Anything goes"}),
		f(6, events.RoomCreated, "secret", 1, "bob", events.RoomCreatedData{Name: "Secret", IsPrivate: true, PasswordHash: Hash}),
		f(7, events.MemberJoined, "general", 2, "bob", events.MemberJoinedData{}),
		f(8, events.MessagePosted, "general", 3, "alice", events.MessagePostedData{Text: "hello <b>world</b>\nsecond line", ClientID: "c-a1",
			Attachments: []events.Attachment{{Key: "att/general/cat.png", Name: "cat.png", ContentType: "image/png", Size: 2048}}}),
		f(9, events.MessagePosted, "general", 4, "bob", events.MessagePostedData{Text: "hi alice", ClientID: "c-b1", ReplyTo: 8}),
		f(10, events.MessageEdited, "general", 5, "alice", events.MessageEditedData{ID: 8, Text: "hello again"}),
		f(11, events.ReactionAdded, "general", 6, "bob", events.ReactionData{ID: 8, Emoji: "👍"}),
		f(12, events.ReactionAdded, "general", 7, "alice", events.ReactionData{ID: 9, Emoji: "🎉"}),
		f(13, events.ReactionRemoved, "general", 8, "bob", events.ReactionData{ID: 8, Emoji: "👍"}),
		f(14, events.ReactionAdded, "general", 9, "bob", events.ReactionData{ID: 8, Emoji: "❤️"}),
		f(15, events.MessageDeleted, "general", 10, "alice", events.MessageDeletedData{ID: 8}),
		f(16, events.CommandRejected, "", 0, "bob", events.CommandRejectedData{Command: events.CmdMessageSend, Room: "general", ClientID: "c-b9",
			Ref: "r9", Conn: "gw1.7", Code: events.CodeRateLimited, Message: "too many messages; wait before sending more", RetryAfterMs: 1200}),
		f(17, events.SessionRefreshed, "", 0, "alice", events.SessionData{Session: s1, ExpiresAt: At(17).Add(48 * time.Hour)}),
		f(18, events.MemberLeft, "general", 11, "bob", events.MemberLeftData{}),
		f(19, events.SessionRevoked, "", 0, "bob", events.SessionData{Session: s2}),
		f(20, events.MessagePosted, "secret", 2, "bob", events.MessagePostedData{Text: "psst", ClientID: "c-b2",
			Attachments: []events.Attachment{{Key: "att/secret/doc.pdf", Name: "doc.pdf", ContentType: "application/pdf", Size: 4096}}}),
		f(21, events.CommandRejected, "", 0, "carol", events.CommandRejectedData{Command: events.CmdRoomJoin, Room: "secret", Code: events.CodeWrongPassword, Message: "wrong room password"}),
	}
}

// ScenarioTables is Dump of the pg view after applying Scenario.
func ScenarioTables() string {
	ts := func(id uint64) string { return At(id).Format(time.RFC3339) }
	s1, s2 := SessionID("token-alice"), SessionID("token-bob")
	sessions := []string{
		"  " + s1 + " | alice | " + ts(3) + " | " + At(17).Add(48*time.Hour).Format(time.RFC3339) + " | NULL",
		"  " + s2 + " | bob | " + ts(4) + " | " + At(4).Add(24*time.Hour).Format(time.RFC3339) + " | " + ts(19),
	}
	slices.Sort(sessions) // by id
	return strings.Join([]string{
		"users:",
		"  alice | Alice | " + Hash + " | NULL | " + ts(1) + " | 1",
		"  bob | bob | " + Hash + " | NULL | " + ts(2) + " | 2",
		"rooms:",
		"  general | General | Anything goes | false | NULL | alice | " + ts(5) + " | 11 | 18",
		"  secret | Secret |  | true | " + Hash + " | bob | " + ts(6) + " | 2 | 20",
		"room_members:",
		"  general | alice | " + ts(5),
		"  secret | bob | " + ts(6),
		"messages:",
		"  8 | general | 3 | alice | c-a1 |  | NULL | " + ts(8) + " | " + ts(10) + " | " + ts(15),
		"  9 | general | 4 | bob | c-b1 | hi alice | 8 | " + ts(9) + " | NULL | NULL",
		"  20 | secret | 2 | bob | c-b2 | psst | NULL | " + ts(20) + " | NULL | NULL",
		"reactions:",
		"  9 | alice | 🎉 | " + ts(12),
		"attachments:",
		"  20 | 0 | att/secret/doc.pdf | doc.pdf | application/pdf | 4096",
		"sessions:",
		sessions[0],
		sessions[1],
		"projection_checkpoints:",
		"  pg | 21",
		"",
	}, "\n")
}

// Want is what a Burst must leave in the tables.
type Want struct {
	Messages int               // rows in messages
	Deleted  int               // of which tombstones
	Heads    map[string]uint64 // head seq per room
	Last     uint64            // stream sequence of the last fact
}

// Burst is n facts of busy chat, to be published right after stream sequence
// base: users, rooms, many messages, and edits, reactions and deletes of them.
func Burst(tb testing.TB, base uint64, n int) ([]events.Fact, Want) {
	tb.Helper()
	users := []string{"ann", "ben", "cat", "dan", "eve", "fay"}
	rooms := []string{"lobby", "dev", "ops", "random"}
	var (
		facts  []events.Fact
		posted []struct {
			id         uint64
			room, user string
		}
		w = Want{Heads: map[string]uint64{}}
	)
	next := func() uint64 { return base + uint64(len(facts)) + 1 }
	room := func(id uint64, typ, r, user string, data any) {
		w.Heads[r]++
		facts = append(facts, Fact(tb, id, typ, r, w.Heads[r], user, data))
	}
	for _, u := range users {
		if len(facts) == n {
			break
		}
		facts = append(facts, Fact(tb, next(), events.UserRegistered, "", 0, u, events.UserRegisteredData{Username: u, DisplayName: strings.ToUpper(u[:1]) + u[1:], PasswordHash: Hash}))
	}
	for i, r := range rooms {
		if len(facts) == n {
			break
		}
		room(next(), events.RoomCreated, r, users[i], events.RoomCreatedData{Name: r})
	}
	for i := 0; len(facts) < n; i++ {
		id := next()
		r := rooms[i%len(rooms)]
		u := users[(i/len(rooms))%len(users)]
		switch {
		case i%50 == 49 && len(posted) > 0:
			p := posted[len(posted)/2]
			room(id, events.MessageDeleted, p.room, p.user, events.MessageDeletedData{ID: p.id})
		case i%10 == 9 && len(posted) > 0:
			p := posted[len(posted)-1]
			room(id, events.MessageEdited, p.room, p.user, events.MessageEditedData{ID: p.id, Text: fmt.Sprintf("edited at %d", id)})
		case i%7 == 6 && len(posted) > 0:
			p := posted[len(posted)-1]
			room(id, events.ReactionAdded, p.room, u, events.ReactionData{ID: p.id, Emoji: "👍"})
		default:
			d := events.MessagePostedData{Text: fmt.Sprintf("message %d from %s", i, u), ClientID: fmt.Sprintf("%s-%d", u, i)}
			if i%5 == 0 {
				d.Attachments = []events.Attachment{{Key: fmt.Sprintf("att/%s/%d.png", r, i), Name: "pic.png", ContentType: "image/png", Size: int64(1000 + i)}}
			}
			room(id, events.MessagePosted, r, u, d)
			posted = append(posted, struct {
				id         uint64
				room, user string
			}{id, r, u})
		}
	}
	deleted := map[uint64]bool{}
	for _, f := range facts {
		if f.Type == events.MessageDeleted {
			d, _ := events.DecodeData[events.MessageDeletedData](f)
			deleted[d.ID] = true
		}
	}
	w.Messages, w.Deleted, w.Last = len(posted), len(deleted), base+uint64(len(facts))
	return facts, w
}

// Dump renders the pg view's tables canonically, one row a line, timestamps
// in UTC RFC 3339. projection_checkpoints.updated_at is left out.
func Dump(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	queries := []struct{ table, sql string }{
		{"users", "SELECT id, display_name, password_hash, avatar_key, created_at, fact_id FROM users ORDER BY id"},
		{"rooms", "SELECT id, name, description, is_private, password_hash, created_by, created_at, head_seq, last_fact_id FROM rooms ORDER BY id"},
		{"room_members", "SELECT room_id, user_id, joined_at FROM room_members ORDER BY room_id, user_id"},
		{"messages", "SELECT id, room_id, seq, user_id, client_id, text, reply_to, created_at, edited_at, deleted_at FROM messages ORDER BY id"},
		{"reactions", "SELECT message_id, user_id, emoji, created_at FROM reactions ORDER BY message_id, user_id, emoji"},
		{"attachments", "SELECT message_id, position, key, name, content_type, size FROM attachments ORDER BY message_id, position"},
		{"sessions", "SELECT id, user_id, created_at, expires_at, revoked_at FROM sessions ORDER BY id"},
		{"projection_checkpoints", "SELECT view, seq FROM projection_checkpoints ORDER BY view"},
	}
	var b strings.Builder
	for _, q := range queries {
		b.WriteString(q.table + ":\n")
		rows, err := pool.Query(ctx, q.sql)
		if err != nil {
			tb.Fatalf("dump %s: %v", q.table, err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				tb.Fatalf("dump %s: %v", q.table, err)
			}
			cols := make([]string, len(vals))
			for i, v := range vals {
				switch v := v.(type) {
				case nil:
					cols[i] = "NULL"
				case time.Time:
					cols[i] = v.UTC().Format(time.RFC3339)
				default:
					cols[i] = fmt.Sprint(v)
				}
			}
			b.WriteString("  " + strings.Join(cols, " | ") + "\n")
		}
		if err := rows.Err(); err != nil {
			tb.Fatalf("dump %s: %v", q.table, err)
		}
	}
	return b.String()
}

// Checkpoint is the pg view's stored checkpoint (0 if none).
func Checkpoint(tb testing.TB, pool *pgxpool.Pool) uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var seq int64
	err := pool.QueryRow(ctx, "SELECT COALESCE((SELECT seq FROM projection_checkpoints WHERE view = 'pg'), 0)").Scan(&seq)
	if err != nil {
		tb.Fatalf("read checkpoint: %v", err)
	}
	return uint64(seq)
}

// Count is SELECT count(*) of a query's rows.
func Count(tb testing.TB, pool *pgxpool.Pool, from string) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+from).Scan(&n); err != nil {
		tb.Fatalf("count %s: %v", from, err)
	}
	return n
}

// Eventually polls cond until it holds, failing the test after a minute: a
// bound on a hang, not a timing assertion.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Logs collects log output; it is safe for concurrent use.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Contains reports whether any line logged so far contains s.
func (l *Logs) Contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.buf.Bytes(), []byte(s))
}

// HasLine reports whether one logged line contains every part.
func (l *Logs) HasLine(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for _, line := range strings.Split(l.buf.String(), "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		return true
	}
	return false
}

func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Logger returns a debug logger into Logs, printed if the test fails.
func Logger(tb testing.TB) (*slog.Logger, *Logs) {
	tb.Helper()
	l := &Logs{}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("logs:\n%s", l.String())
		}
	})
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})), l
}

// Proxy forwards TCP connections to a target until cut.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// NewProxy listens on a loopback port and forwards to target (host:port).
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut drops every open connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, up) {
			continue
		}
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}
