package pgrebuild

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/projector/internal/pg"
)

// ErrOtherLog is CheckLog's answer when the live schema holds the
// projection of another log than CHAT_EVT: its checkpoint counts that log's
// facts. Rebuild replaces it with a projection of the current log.
var ErrOtherLog = pg.ErrOtherLog

// CheckLog returns an error wrapping ErrOtherLog, saying what to do, if the
// live schema's checkpoint belongs to another log than CHAT_EVT (the stream
// was created again, or the database belongs to another deployment). A
// checkpoint that does not record its log is taken to be of this one unless
// it lies past the log's end; it then records it.
func CheckLog(ctx context.Context, live *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", events.EvtStream, err)
	}
	return pg.CheckLog(ctx, live, evt, log)
}
