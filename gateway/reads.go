package gateway

import (
	"context"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/gateway/internal/readmodel"
)

// What the gateway reads of the projections, and through them of the log,
// is asked of readmodel.Model, which owns the SQL, the cache reads and the
// fallbacks between them (cache, then Postgres, then the log). Handlers see
// only these interfaces.

// roomReads are the reads of rooms: their list, one room, its history and
// members, and who may read them.
type roomReads interface {
	Rooms(ctx context.Context, q, cursor string, limit int) ([]readmodel.Room, string, error)
	Room(ctx context.Context, id string) (readmodel.Room, error)
	History(ctx context.Context, room, user string, before int64, limit int) ([]events.Message, bool, error)
	// RoomEvents are a room's membership facts, shown among its history.
	RoomEvents(ctx context.Context, room string, from, before int64, max int) ([]events.EventData, error)
	Members(ctx context.Context, room, cursor string, limit int) ([]readmodel.Member, error)
	CanRead(ctx context.Context, room readmodel.Room, user string) error
	IsMember(ctx context.Context, room, user string) bool
	// Fates tells what became of messages of a room: a sync page that ends
	// before the room's head is redacted with it (events.ReaderEvents).
	Fates(ctx context.Context, room string, ids []uint64) (events.Fates, error)
}

// userReads are the reads of users: their profiles, sessions and rooms.
type userReads interface {
	Profile(ctx context.Context, id string) (readmodel.Profile, error)
	Session(ctx context.Context, id string) (readmodel.Session, bool, error)
	RoomsOf(ctx context.Context, user string) ([]string, error)
	// MyRooms is the user's own list, with read positions and unread counts.
	MyRooms(ctx context.Context, user, cursor string, limit int) ([]readmodel.MyRoom, string, error)
}

// fileReads are the reads that tell who may fetch an attachment.
type fileReads interface {
	Attachment(ctx context.Context, key, reader string) (readmodel.Attachment, bool, error)
	Claimed(ctx context.Context, room, by, clientID, reader string) (deleted, inRoom bool, err error)
}

// reads is all the gateway reads.
type reads interface {
	roomReads
	userReads
	fileReads
}

var _ reads = (*readmodel.Model)(nil)
