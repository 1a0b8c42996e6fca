// Package objstoretest gives tests a bucket of their own on the S3 endpoint
// that ops/scripts/deps.sh provides (CHILLIN_TEST_S3_*: a private MinIO
// server unless an endpoint is configured), removed with everything in it
// when the test ends.
package objstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/objstore"
)

// Config returns the test endpoint's configuration with no bucket chosen.
// The test fails when no endpoint is configured.
func Config(tb testing.TB) objstore.Config {
	tb.Helper()
	cfg := objstore.Config{
		Endpoint:  os.Getenv("CHILLIN_TEST_S3_ENDPOINT"),
		AccessKey: os.Getenv("CHILLIN_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("CHILLIN_TEST_S3_SECRET_KEY"),
		Secure:    os.Getenv("CHILLIN_TEST_S3_SECURE") == "true",
	}
	if cfg.Endpoint == "" {
		tb.Fatal("objstoretest: CHILLIN_TEST_S3_ENDPOINT is not set: run `bash ops/scripts/deps.sh && source var/deps.env` (it starts a private MinIO)")
	}
	return cfg
}

// NewBucket returns the configuration of a fresh bucket, created now and
// removed with its objects when the test ends, and the store for it.
func NewBucket(tb testing.TB) (objstore.Config, *objstore.Store) {
	tb.Helper()
	cfg := Config(tb)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	cfg.Bucket = "chillin-test-" + hex.EncodeToString(b)
	st, err := objstore.Open(cfg)
	if err != nil {
		tb.Fatalf("objstoretest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.EnsureBucket(ctx); err != nil {
		tb.Fatalf("objstoretest: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := st.RemoveBucket(ctx); err != nil {
			tb.Errorf("objstoretest: %v", err)
		}
	})
	return cfg, st
}
