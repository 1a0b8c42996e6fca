package validator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/media"
	"github.com/chillin-chat/chillin/events/objstore"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// Media is the media storage the validator consults for the attachments of
// a message: what decide needs to judge them (decide.Upload), and the claim
// that attaches an upload to one message only. Its errors mean storage (or
// Redis, which keeps the upload records) did not answer: the command is
// retried, never rejected for it.
type Media interface {
	// Inspect looks up the upload record and the object of each key.
	Inspect(ctx context.Context, keys []string) (map[string]decide.Upload, error)
	// Claim marks the upload of key attached to claimant unless another
	// message holds it; it returns the holder ("" when there is no record).
	// The claimant's attachment is then sealed: copied to its sealed key
	// (media.SealedKey), the only key its file is served from, which no
	// upload form can overwrite.
	Claim(ctx context.Context, key, claimant string) (holder string, err error)
	// Ping checks that storage answers, for /ready.
	Ping(ctx context.Context) error
}

// storeMedia is Media on S3-compatible storage (objstore.Store) and the
// gateway's upload records in Redis.
type storeMedia struct {
	store   *objstore.Store
	records objstore.Records
}

func (m storeMedia) Inspect(ctx context.Context, keys []string) (map[string]decide.Upload, error) {
	out := make(map[string]decide.Upload, len(keys))
	for _, key := range keys {
		rec, found, err := m.records.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		u := decide.Upload{Recorded: found, Record: rec}
		// The object of an upload that is not the sender's to attach does
		// not matter; decide refuses it on the record alone.
		if found && rec.Purpose == media.PurposeAttachment {
			if u.Object, err = m.store.Inspect(ctx, key); err != nil {
				return nil, err
			}
		}
		out[key] = u
	}
	return out, nil
}

func (m storeMedia) Claim(ctx context.Context, key, claimant string) (string, error) {
	holder, _, err := m.records.Claim(ctx, key, claimant)
	if err != nil || holder != claimant {
		return holder, err
	}
	return holder, m.seal(ctx, key)
}

// seal copies a claimed attachment to its sealed key, once, and checks the
// copy by the rules decide applied to the original (Inspect): the form of
// the original may have been posted again in between. A copy that fails
// them is removed and the command retried, so decide judges the bytes now
// under the original key; a message is appended only once its sealed copy
// exists.
func (m storeMedia) seal(ctx context.Context, key string) error {
	if k, err := media.ParseKey(key); err != nil || k.Purpose != media.PurposeAttachment {
		return nil
	}
	rec, found, err := m.records.Get(ctx, key)
	if err != nil {
		return err
	}
	sealed := media.SealedKey(key)
	if err := m.store.Seal(ctx, key, sealed); err != nil {
		return err
	}
	o, err := m.store.Inspect(ctx, sealed)
	if err != nil {
		return err
	}
	contentType := o.ContentType
	if found {
		contentType = rec.ContentType
	}
	if err := media.CheckObject(o, contentType, 0); err != nil || (found && o.Size > rec.Size) {
		if err := m.store.Remove(ctx, sealed); err != nil {
			return err
		}
		return fmt.Errorf("seal %s: the object changed after it was inspected; deciding again", key)
	}
	return nil
}

func (m storeMedia) Ping(ctx context.Context) error { return m.store.Ping(ctx) }

// openMedia connects the configured storage; the bucket is created if
// absent (storage down at start only delays that: every use retries).
func openMedia(ctx context.Context, cfg Config) (storeMedia, func(), error) {
	store, err := objstore.Open(cfg.Storage)
	if err != nil {
		return storeMedia{}, nil, fmt.Errorf("validator: %w", err)
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return storeMedia{}, nil, fmt.Errorf("validator: redis url: %w", err)
	}
	rdb := redis.NewClient(opts)
	ensure, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := store.EnsureBucket(ensure); err != nil {
		cfg.Logger.Warn("media storage not ready at start; attachments wait for it", "err", err)
	}
	return storeMedia{store: store, records: objstore.NewRecords(rdb, cfg.RedisPrefix)}, func() { _ = rdb.Close() }, nil
}

// Sweeping the files of deleted messages.
const (
	// sweeperName is the durable consumer, shared by every validator
	// instance, through which the files of deleted messages are removed.
	sweeperName = "validator-media-sweeper"
	// sweepRetry is how long a delete whose files could not be removed
	// (storage or Redis away) waits before it is tried again.
	sweepRetry = 5 * time.Second
)

// sweepDeleted removes the files of deleted messages from storage until ctx
// ends: for every message.deleted in the log, the objects of the message's
// attachments (the original and the sealed key) are removed and their
// upload records, while they live, marked deleted, so no one is served the
// file again. It reads every room fact once through a durable consumer
// (from the start of the log, so deletes from before it existed are swept
// too); removing is idempotent, so a redelivery or a replay finds the
// objects gone and carries on.
func (m storeMedia) sweepDeleted(ctx context.Context, js jetstream.JetStream, evt jetstream.Stream, log *slog.Logger) {
	cfg := jetstream.ConsumerConfig{
		Durable:       sweeperName,
		Description:   "validator: removes the files of deleted messages",
		FilterSubject: events.RoomSubject(">"),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 1024,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	var cc jetstream.ConsumeContext
	for cc == nil {
		cons, err := js.CreateOrUpdateConsumer(ctx, events.EvtStream, cfg)
		if err == nil {
			cc, err = cons.Consume(func(msg jetstream.Msg) { m.sweepMsg(ctx, evt, msg, log) })
		}
		if err != nil {
			log.Warn("media sweeper: consumer; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(sweepRetry):
			}
		}
	}
	<-ctx.Done()
	cc.Stop()
}

// sweepMsg handles one room fact for sweepDeleted.
func (m storeMedia) sweepMsg(ctx context.Context, evt jetstream.Stream, msg jetstream.Msg, log *slog.Logger) {
	f, err := events.DecodeConsumedMsg(msg)
	if err != nil {
		log.Error("media sweeper: undecodable fact; skipped", "err", err)
		_ = msg.Ack()
		return
	}
	if f.Type != events.MessageDeleted {
		_ = msg.Ack()
		return
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := m.removeFiles(ctx, evt, f); err != nil {
		log.Warn("media sweeper: files of a deleted message; retrying", "room", f.Room, "seq", f.Seq, "err", err)
		_ = msg.NakWithDelay(sweepRetry)
		return
	}
	_ = msg.Ack()
}

// removeFiles removes the files of the message a message.deleted fact
// deleted.
func (m storeMedia) removeFiles(ctx context.Context, evt jetstream.Stream, del events.Stored) error {
	d, err := events.DecodeData[events.MessageDeletedData](del.Fact)
	if err != nil {
		return err
	}
	raw, err := evt.GetMsg(ctx, d.ID)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil // no such message: decide never lets that through; nothing to remove
	}
	if err != nil {
		return fmt.Errorf("read message %d: %w", d.ID, err)
	}
	post, err := events.DecodeStoredMsg(raw)
	if err != nil {
		return err
	}
	if post.Type != events.MessagePosted || post.Room != del.Room {
		return nil // the validator deletes only messages of the room; nothing to remove
	}
	p, err := events.DecodeData[events.MessagePostedData](post.Fact)
	if err != nil {
		return err
	}
	for _, a := range p.Attachments {
		if err := m.store.Remove(ctx, a.Key, media.SealedKey(a.Key)); err != nil {
			return err
		}
		if err := m.records.MarkDeleted(ctx, a.Key); err != nil {
			return err
		}
	}
	return nil
}
