package cachewriter

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/cachelayout"
)

// ReadRoom returns a room of a generation and the messages its window
// holds, oldest first; ok is false if the generation does not hold the room.
// It reads with several commands: for tests and tools, on a generation
// nobody writes meanwhile (readers of the live cache read in one script).
func (s *Store) ReadRoom(ctx context.Context, gen uint64, room string) (cachelayout.RoomEntry, []events.Message, bool, error) {
	h, err := s.rdb.HGetAll(ctx, s.keys.Room(gen, room)).Result()
	if err != nil {
		return cachelayout.RoomEntry{}, nil, false, fmt.Errorf("read room %s: %w", room, err)
	}
	e, ok, err := cachelayout.DecodeRoom(room, h)
	if err != nil || !ok {
		return cachelayout.RoomEntry{}, nil, false, err
	}
	if e.Members, err = s.rdb.SMembers(ctx, s.keys.Members(gen, room)).Result(); err != nil {
		return cachelayout.RoomEntry{}, nil, false, fmt.Errorf("read room %s members: %w", room, err)
	}
	slices.Sort(e.Members)
	ids, err := s.rdb.ZRange(ctx, s.keys.Window(gen, room), 0, -1).Result()
	if err != nil {
		return cachelayout.RoomEntry{}, nil, false, fmt.Errorf("read room %s window: %w", room, err)
	}
	msgs := make([]events.Message, 0, len(ids))
	for _, id := range ids {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return cachelayout.RoomEntry{}, nil, false, fmt.Errorf("room %s window: id %q", room, id)
		}
		f, err := s.rdb.HGetAll(ctx, s.keys.Message(gen, n)).Result()
		if err != nil {
			return cachelayout.RoomEntry{}, nil, false, fmt.Errorf("read message %d: %w", n, err)
		}
		m, err := cachelayout.DecodeMessage(n, f)
		if err != nil {
			return cachelayout.RoomEntry{}, nil, false, err
		}
		msgs = append(msgs, m)
	}
	return e, msgs, true, nil
}
