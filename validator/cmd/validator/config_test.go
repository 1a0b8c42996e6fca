package main

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/envflag/envflagtest"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/validator"
)

// parse parses a configuration, refusing one without a logger.
func parse(getenv func(string) string, args []string) (validator.Config, error) {
	c, err := parseConfig(args, getenv, io.Discard)
	if err == nil && c.Logger == nil {
		err = errors.New("no logger")
	}
	return c, err
}

func TestParseConfig(t *testing.T) {
	envflagtest.Run(t, parse, []envflagtest.Case[validator.Config]{
		{Name: "default ops address", Check: func(t *testing.T, c validator.Config) {
			if c.HTTPAddr != "127.0.0.1:9101" || c.Streams.Replicas != 1 {
				t.Fatalf("http %q replicas %d", c.HTTPAddr, c.Streams.Replicas)
			}
		}},
		{Name: "defaults", Check: func(t *testing.T, c validator.Config) {
			if c.RateLimit != 10 || c.RateWindow != 10*time.Second || c.MaxTextRunes != 2000 || c.NATSURL != "nats://127.0.0.1:4222" || c.RedisPrefix != "chillin:" {
				t.Fatalf("defaults: %d %v %d %s %s", c.RateLimit, c.RateWindow, c.MaxTextRunes, c.NATSURL, c.RedisPrefix)
			}
		}},
		{Name: "environment", Env: map[string]string{
			"CHILLIN_NATS_URL": "nats://n:4222", "CHILLIN_REDIS_URL": "redis://r:6379/1", "CHILLIN_REDIS_PREFIX": "p:",
			"CHILLIN_RATE_LIMIT": "5", "CHILLIN_RATE_WINDOW": "30s", "CHILLIN_MAX_MESSAGE_RUNES": "500",
		}, Check: func(t *testing.T, c validator.Config) {
			if c.RateLimit != 5 || c.RateWindow != 30*time.Second || c.MaxTextRunes != 500 || c.NATSURL != "nats://n:4222" || c.RedisURL != "redis://r:6379/1" || c.RedisPrefix != "p:" {
				t.Fatalf("from env: %d %v %d %s %s %s", c.RateLimit, c.RateWindow, c.MaxTextRunes, c.NATSURL, c.RedisURL, c.RedisPrefix)
			}
		}},
		{Name: "flags override the environment", Env: map[string]string{"CHILLIN_RATE_LIMIT": "5", "CHILLIN_NATS_URL": "nats://env:1"},
			Args: []string{"-rate-limit", "7", "-nats", "nats://flag:2", "-rate-window", "1m"},
			Check: func(t *testing.T, c validator.Config) {
				if c.RateLimit != 7 || c.NATSURL != "nats://flag:2" || c.RateWindow != time.Minute {
					t.Fatalf("override: %d %s %v", c.RateLimit, c.NATSURL, c.RateWindow)
				}
			}},
		{Name: "ops address and replicas", Env: map[string]string{"CHILLIN_HTTP_ADDR": "0.0.0.0:9200", "CHILLIN_STREAM_REPLICAS": "3"},
			Check: func(t *testing.T, c validator.Config) {
				if c.HTTPAddr != "0.0.0.0:9200" || c.Streams.Replicas != 3 {
					t.Fatalf("http %q replicas %d", c.HTTPAddr, c.Streams.Replicas)
				}
			}},
		{Name: "ops address off", Env: map[string]string{"CHILLIN_HTTP_ADDR": "0.0.0.0:9200"}, Args: []string{"-http", ""},
			Check: func(t *testing.T, c validator.Config) {
				if c.HTTPAddr != "" {
					t.Fatalf("http %q, want none", c.HTTPAddr)
				}
			}},
		{Name: "memory bounds by default", Check: func(t *testing.T, c validator.Config) {
			if c.RoomCacheBytes != validator.DefaultRoomCacheBytes || c.RoomMessages != validator.DefaultRoomMessages || c.Sessions != validator.DefaultSessions {
				t.Fatalf("room cache %d, room messages %d, sessions %d", c.RoomCacheBytes, c.RoomMessages, c.Sessions)
			}
		}},
		{Name: "memory bounds", Env: map[string]string{"CHILLIN_VALIDATOR_ROOM_CACHE_MB": "8", "CHILLIN_VALIDATOR_ROOM_MESSAGES": "500"}, Args: []string{"-sessions", "1000"},
			Check: func(t *testing.T, c validator.Config) {
				if c.RoomCacheBytes != 8<<20 || c.RoomMessages != 500 || c.Sessions != 1000 {
					t.Fatalf("room cache %d, room messages %d, sessions %d", c.RoomCacheBytes, c.RoomMessages, c.Sessions)
				}
			}},
		{Name: "digests and no postgres by default", Check: func(t *testing.T, c validator.Config) {
			if c.RoomDigests != validator.DefaultRoomDigests || c.PostgresURL != "" {
				t.Fatalf("room digests %d, postgres %q", c.RoomDigests, c.PostgresURL)
			}
		}},
		{Name: "digests and postgres", Env: map[string]string{"CHILLIN_VALIDATOR_ROOM_DIGESTS": "300", "CHILLIN_POSTGRES_URL": "postgres://ro@db/chillin"},
			Check: func(t *testing.T, c validator.Config) {
				if c.RoomDigests != 300 || c.PostgresURL != "postgres://ro@db/chillin" {
					t.Fatalf("room digests %d, postgres %q", c.RoomDigests, c.PostgresURL)
				}
			}},
		{Name: "no digests per room", Args: []string{"-room-digests", "0"}, WantErr: "room digests"},
		{Name: "room snapshots by default", Check: func(t *testing.T, c validator.Config) {
			if c.RoomSnapshotBytes != validator.DefaultRoomSnapshotBytes {
				t.Fatalf("room snapshots %d", c.RoomSnapshotBytes)
			}
		}},
		{Name: "no room snapshots", Args: []string{"-room-snapshot-mb", "0"}, Check: func(t *testing.T, c validator.Config) {
			if c.RoomSnapshotBytes >= 0 {
				t.Fatalf("room snapshots %d, want none", c.RoomSnapshotBytes)
			}
		}},
		{Name: "room snapshots bound", Env: map[string]string{"CHILLIN_VALIDATOR_ROOM_SNAPSHOT_MB": "-1"}, WantErr: "room snapshot mb"},
		{Name: "room cache too small", Env: map[string]string{"CHILLIN_VALIDATOR_ROOM_CACHE_MB": "0"}, WantErr: "room cache mb"},
		{Name: "no messages per room", Args: []string{"-room-messages", "0"}, WantErr: "room messages"},
		{Name: "no sessions", Args: []string{"-sessions", "-1"}, WantErr: "sessions"},
		{Name: "no media storage by default", Check: func(t *testing.T, c validator.Config) {
			if c.Storage.Enabled() || c.Storage.Bucket != "chillin" {
				t.Fatalf("storage %+v", c.Storage)
			}
		}},
		{Name: "media storage", Env: map[string]string{
			"CHILLIN_S3_ENDPOINT": "minio:9000", "CHILLIN_S3_ACCESS_KEY": "ak", "CHILLIN_S3_SECRET_KEY": "sk",
			"CHILLIN_S3_BUCKET": "media", "CHILLIN_S3_SECURE": "true", "CHILLIN_S3_REGION": "eu-west-1",
		}, Check: func(t *testing.T, c validator.Config) {
			s := c.Storage
			if !s.Enabled() || s.Endpoint != "minio:9000" || s.AccessKey != "ak" || s.SecretKey != "sk" || s.Bucket != "media" || !s.Secure || s.Region != "eu-west-1" {
				t.Fatalf("storage %+v", s)
			}
		}},
		{Name: "default rate limits", Check: func(t *testing.T, c validator.Config) {
			if c.RateLimits.String() != ratelimit.DefaultRules().String() {
				t.Fatalf("rate limits %v", c.RateLimits)
			}
		}},
		{Name: "rate limits", Env: map[string]string{"CHILLIN_RATE_LIMITS": "edit=3/1m,reaction=50/30s"}, Args: []string{"-rate-limits", "edit=4/2m"},
			Check: func(t *testing.T, c validator.Config) {
				if c.RateLimits[ratelimit.Edit] != (ratelimit.Rule{Limit: 4, Window: 2 * time.Minute}) ||
					c.RateLimits[ratelimit.Reaction] != ratelimit.DefaultRules()[ratelimit.Reaction] {
					t.Fatalf("rate limits %v", c.RateLimits)
				}
			}},
		{Name: "bad rate limits", Env: map[string]string{"CHILLIN_RATE_LIMITS": "edit=many/1m"}, WantErr: "rate limits"},
		{Name: "profiles", Env: map[string]string{"CHILLIN_PPROF_ADDR": "127.0.0.1:6061"}, Check: func(t *testing.T, c validator.Config) {
			if c.PprofAddr != "127.0.0.1:6061" {
				t.Fatalf("pprof address %q", c.PprofAddr)
			}
		}},
		{Name: "media storage without keys", Env: map[string]string{"CHILLIN_S3_ENDPOINT": "minio:9000"}, WantErr: "access key"},
		{Name: "bad s3-secure", Env: map[string]string{"CHILLIN_S3_SECURE": "yes"}, WantErr: "s3 secure"},
		{Name: "bad integer in the environment", Env: map[string]string{"CHILLIN_RATE_LIMIT": "ten"}, WantErr: "CHILLIN_RATE_LIMIT"},
		{Name: "bad duration in the environment", Env: map[string]string{"CHILLIN_RATE_WINDOW": "10"}, WantErr: "CHILLIN_RATE_WINDOW"},
		{Name: "zero limit", Args: []string{"-rate-limit", "0"}, WantErr: "rate limit"},
		{Name: "negative runes", Args: []string{"-max-message-runes", "-1"}, WantErr: "max message runes"},
		{Name: "unknown log format", Env: map[string]string{"CHILLIN_LOG_FORMAT": "xml"}, WantErr: "log format"},
		{Name: "unknown log level", Args: []string{"-log-level", "loud"}, WantErr: "log level"},
		{Name: "unknown flag", Args: []string{"-nope"}, WantErr: "not defined"},
		{Name: "stray argument", Args: []string{"extra"}, WantErr: "unexpected arguments"},
	})
}
