package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events/cachelayout"
	"github.com/chillin-chat/chillin/projector/cachewriter"
)

// rebuildRedis builds a new generation of the Redis cache from the first
// fact while the system runs, switches readers to it and drops the old one
// (cachewriter.Rebuild).
func rebuildRedis(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	f := newLogFlags("rebuild", getenv, stderr)
	f.fs.String("view", "redis", "the view: redis")
	redisURL := f.fs.String("redis", env("CHILLIN_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL of the system (CHILLIN_REDIS_URL)")
	prefix := f.fs.String("redis-prefix", env("CHILLIN_REDIS_PREFIX", "chillin:"), "prefix of the system's Redis keys (CHILLIN_REDIS_PREFIX)")
	window := f.fs.Int("window", cachelayout.DefaultWindow, "newest messages kept per room in the new generation (CHILLIN_CACHE_WINDOW)")
	chunk := f.fs.Int("chunk", cachewriter.DefaultChunk, "room facts read and applied at a time")
	logFormat := f.fs.String("log-format", env("CHILLIN_LOG_FORMAT", "text"), "log format: json or text (CHILLIN_LOG_FORMAT)")
	if v := getenv("CHILLIN_CACHE_WINDOW"); v != "" {
		if err := f.fs.Set("window", v); err != nil {
			return fmt.Errorf("CHILLIN_CACHE_WINDOW: %w", err)
		}
	}
	if err := parseCommand(f.fs, args, "rebuild -view redis [flags]",
		"Builds a new generation of the Redis cache (room list, members, newest messages) from the first fact while the system keeps running, switches readers to it once it has caught up with the live one, and drops the old one.",
		0, "rebuild takes no arguments, only flags", stderr); err != nil {
		return err
	}
	switch {
	case *window < 1:
		return fmt.Errorf("-window %d: want 1 or more messages", *window)
	case *chunk < 1:
		return fmt.Errorf("-chunk %d: want 1 or more facts", *chunk)
	}
	log, err := newLogger(*logFormat, stderr)
	if err != nil {
		return err
	}
	opts, err := redis.ParseURL(*redisURL)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", *redisURL, err)
	}
	nc, js, err := f.connect()
	if err != nil {
		return err
	}
	defer nc.Close()

	m, report := meter(stderr, "rebuild")
	rep, err := cachewriter.Rebuild{
		Store: cachewriter.NewStore(rdb, *prefix, *window), Source: cachewriter.Source{JS: js, Log: log},
		Chunk: *chunk, Progress: report, Log: log,
	}.Run(ctx)
	m.Finish()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("rebuild interrupted; the current cache generation is as it was and the new one %d is dropped", rep.Gen)
		}
		if rep.Old != 0 {
			// Switched: only dropping the old generation failed.
			return err
		}
		return fmt.Errorf("rebuild failed; the current cache generation is as it was: %w", err)
	}
	fmt.Fprintf(stdout, "rebuild: cache generation %d built from the log through seq %d (%d room facts) in %s", rep.Gen, rep.Checkpoint, rep.Facts, rep.Took.Round(time.Millisecond))
	if rep.Old != 0 {
		fmt.Fprintf(stdout, "; it replaced generation %d (%d keys dropped)", rep.Old, rep.Dropped)
	}
	fmt.Fprintln(stdout)
	return nil
}
