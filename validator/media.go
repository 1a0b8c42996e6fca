package validator

import (
	"context"
	"fmt"

	"github.com/chillin-chat/chillin/events/media"
	"github.com/chillin-chat/chillin/events/objstore"
	"github.com/chillin-chat/chillin/validator/internal/decide"
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
	return holder, err
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
