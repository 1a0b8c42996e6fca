package readmodel

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events"
)

// Room is a room's entry as the projections hold it.
type Room struct {
	ID          string
	Name        string
	Description string
	IsPrivate   bool
	HeadSeq     uint64
	CreatedBy   string
	CreatedAt   time.Time
	MemberCount int
	Members     []string // the members' ids, in no order
}

// Member is a room member with their profile.
type Member struct {
	User        string
	DisplayName string // the user id when the profile is not projected yet
	AvatarKey   string // "" for none
}

// Config is what a Model reads from.
type Config struct {
	PG          *pgxpool.Pool
	Redis       *redis.Client // the cache; nil: Postgres answers every read
	RedisPrefix string
	JS          jetstream.JetStream
	Evt         jetstream.Stream // CHAT_EVT, for rooms no projection has yet
	Log         *slog.Logger
}

// Model answers the gateway's reads.
type Model struct {
	pg    *pgxpool.Pool
	cache *cacheReader
	js    jetstream.JetStream
	evt   jetstream.Stream
	log   *slog.Logger
}

// New returns a Model. Its cache reads are counted in Metrics, which the
// caller registers.
func New(cfg Config) *Model {
	return &Model{
		pg: cfg.PG, cache: newCacheReader(cfg.Redis, cfg.RedisPrefix, cfg.Log),
		js: cfg.JS, evt: cfg.Evt, log: cfg.Log,
	}
}

// Metrics is the Model's series: chillin_gateway_cache_reads_total.
func (m *Model) Metrics() prometheus.Collector { return m.cache.reads }

// Unavailable is the user-facing error of a projection read that failed.
func Unavailable(what string) *events.Error {
	return events.Errorf(events.CodeUnavailable, "%s is temporarily unavailable; sending still works", what)
}

// Rooms lists the rooms in the order they were created, at most limit of
// them after the room id cursor, those whose name or id contains q when
// given; next is the cursor of the following page, "" after the last. The
// cache answers the first page of the whole list when the list fits in it.
func (m *Model) Rooms(ctx context.Context, q, cursor string, limit int) (rooms []Room, next string, err error) {
	if q == "" && cursor == "" {
		// The cache holds the whole list, up to maxRoomList: it answers
		// when that fits in one page.
		if cached, err := m.cache.rooms(ctx); err == nil && len(cached) < maxRoomList && len(cached) <= limit {
			return cached, "", nil
		}
	}
	rooms, err = m.pgRooms(ctx, q, cursor, limit+1)
	if err != nil {
		m.log.Warn("list rooms", "err", err)
		return nil, "", Unavailable("the room list")
	}
	if rooms == nil {
		rooms = []Room{}
	}
	if len(rooms) > limit {
		rooms, next = rooms[:limit], rooms[limit-1].ID
	}
	return rooms, next, nil
}

// Room returns one room from the cache, else Postgres, or from the log when
// neither has seen it yet.
func (m *Model) Room(ctx context.Context, id string) (Room, error) {
	if !events.ValidRoomID(id) {
		return Room{}, events.Errorf(events.CodeNoSuchRoom, "no such room")
	}
	if r, err := m.cache.room(ctx, id); err == nil {
		return r, nil
	}
	if r, ok := m.pgRoom(ctx, id); ok {
		return r, nil
	}
	return m.roomFromLog(ctx, id)
}

// roomFromLog builds a room's entry from its first fact: a room created a
// moment ago, or while the projections are down.
func (m *Model) roomFromLog(ctx context.Context, id string) (Room, error) {
	facts, head, err := events.ReadRoom(ctx, m.js, m.evt, id, 0, 1)
	if err != nil {
		return Room{}, err
	}
	if len(facts) == 0 || facts[0].Type != events.RoomCreated {
		return Room{}, events.Errorf(events.CodeNoSuchRoom, "no such room")
	}
	d, err := events.DecodeData[events.RoomCreatedData](facts[0].Fact)
	if err != nil {
		return Room{}, err
	}
	return Room{ID: id, Name: d.Name, Description: d.Description, IsPrivate: d.IsPrivate, HeadSeq: head,
		CreatedBy: facts[0].User, CreatedAt: facts[0].At, MemberCount: 1, Members: []string{facts[0].User}}, nil
}

// CanRead reports whether user may read a room's history and members:
// anyone for a public room, members for a private one.
func (m *Model) CanRead(ctx context.Context, r Room, user string) error {
	if !r.IsPrivate {
		return nil
	}
	member, err := m.pgIsMember(ctx, r.ID, user)
	if err != nil {
		return Unavailable("history")
	}
	if !member {
		return events.Errorf(events.CodeNotMember, "join this room first")
	}
	return nil
}

// IsMember reports whether the projection holds user as a member of room;
// false when it cannot tell.
func (m *Model) IsMember(ctx context.Context, room, user string) bool {
	member, err := m.pgIsMember(ctx, room, user)
	return err == nil && member
}

// History returns the newest limit messages of a room with id < before,
// oldest first, and whether older ones exist. The cache answers only what
// it holds completely, for a reader allowed to read; Postgres answers the
// rest, and every refusal (no such room, not a member).
func (m *Model) History(ctx context.Context, room, user string, before int64, limit int) ([]events.Message, bool, error) {
	if events.ValidRoomID(room) {
		if msgs, more, err := m.cache.history(ctx, room, user, before, limit); err == nil {
			return msgs, more, nil
		}
	}
	r, err := m.Room(ctx, room)
	if err != nil {
		return nil, false, err
	}
	if err := m.CanRead(ctx, r, user); err != nil {
		return nil, false, err
	}
	msgs, more, err := m.pgHistory(ctx, r.ID, before, limit)
	if err != nil {
		m.log.Warn("history", "room", r.ID, "err", err)
		return nil, false, Unavailable("history")
	}
	return msgs, more, nil
}

// Members reads at most limit members of room after the user id cursor, in
// user id order.
func (m *Model) Members(ctx context.Context, room, cursor string, limit int) ([]Member, error) {
	return m.pgMembers(ctx, room, cursor, limit)
}
