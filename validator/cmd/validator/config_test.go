package main

import (
	"io"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/validator"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		wantErr  bool
		check    func(t *testing.T, limit int, window time.Duration, runes int, nats, redis, prefix string)
		checkCfg func(t *testing.T, c validator.Config)
	}{
		{name: "default ops address", checkCfg: func(t *testing.T, c validator.Config) {
			if c.HTTPAddr != "127.0.0.1:9101" || c.Streams.Replicas != 1 {
				t.Fatalf("http %q replicas %d", c.HTTPAddr, c.Streams.Replicas)
			}
		}},
		{name: "defaults", check: func(t *testing.T, limit int, window time.Duration, runes int, nats, redis, prefix string) {
			if limit != 10 || window != 10*time.Second || runes != 2000 || nats != "nats://127.0.0.1:4222" || prefix != "chillin:" {
				t.Fatalf("defaults: %d %v %d %s %s", limit, window, runes, nats, prefix)
			}
		}},
		{name: "environment", env: map[string]string{
			"CHILLIN_NATS_URL": "nats://n:4222", "CHILLIN_REDIS_URL": "redis://r:6379/1", "CHILLIN_REDIS_PREFIX": "p:",
			"CHILLIN_RATE_LIMIT": "5", "CHILLIN_RATE_WINDOW": "30s", "CHILLIN_MAX_MESSAGE_RUNES": "500",
		}, check: func(t *testing.T, limit int, window time.Duration, runes int, nats, redis, prefix string) {
			if limit != 5 || window != 30*time.Second || runes != 500 || nats != "nats://n:4222" || redis != "redis://r:6379/1" || prefix != "p:" {
				t.Fatalf("from env: %d %v %d %s %s %s", limit, window, runes, nats, redis, prefix)
			}
		}},
		{name: "flags override the environment", env: map[string]string{"CHILLIN_RATE_LIMIT": "5", "CHILLIN_NATS_URL": "nats://env:1"},
			args: []string{"-rate-limit", "7", "-nats", "nats://flag:2", "-rate-window", "1m"},
			check: func(t *testing.T, limit int, window time.Duration, runes int, nats, redis, prefix string) {
				if limit != 7 || nats != "nats://flag:2" || window != time.Minute {
					t.Fatalf("override: %d %s %v", limit, nats, window)
				}
			}},
		{name: "ops address and replicas", env: map[string]string{"CHILLIN_HTTP_ADDR": "0.0.0.0:9200", "CHILLIN_STREAM_REPLICAS": "3"},
			checkCfg: func(t *testing.T, c validator.Config) {
				if c.HTTPAddr != "0.0.0.0:9200" || c.Streams.Replicas != 3 {
					t.Fatalf("http %q replicas %d", c.HTTPAddr, c.Streams.Replicas)
				}
			}},
		{name: "ops address off", env: map[string]string{"CHILLIN_HTTP_ADDR": "0.0.0.0:9200"}, args: []string{"-http", ""},
			checkCfg: func(t *testing.T, c validator.Config) {
				if c.HTTPAddr != "" {
					t.Fatalf("http %q, want none", c.HTTPAddr)
				}
			}},
		{name: "memory bounds by default", checkCfg: func(t *testing.T, c validator.Config) {
			if c.RoomCacheBytes != validator.DefaultRoomCacheBytes || c.RoomMessages != validator.DefaultRoomMessages || c.Sessions != validator.DefaultSessions {
				t.Fatalf("room cache %d, room messages %d, sessions %d", c.RoomCacheBytes, c.RoomMessages, c.Sessions)
			}
		}},
		{name: "memory bounds", env: map[string]string{"CHILLIN_VALIDATOR_ROOM_CACHE_MB": "8", "CHILLIN_VALIDATOR_ROOM_MESSAGES": "500"}, args: []string{"-sessions", "1000"},
			checkCfg: func(t *testing.T, c validator.Config) {
				if c.RoomCacheBytes != 8<<20 || c.RoomMessages != 500 || c.Sessions != 1000 {
					t.Fatalf("room cache %d, room messages %d, sessions %d", c.RoomCacheBytes, c.RoomMessages, c.Sessions)
				}
			}},
		{name: "room snapshots by default", checkCfg: func(t *testing.T, c validator.Config) {
			if c.RoomSnapshotBytes != validator.DefaultRoomSnapshotBytes {
				t.Fatalf("room snapshots %d", c.RoomSnapshotBytes)
			}
		}},
		{name: "no room snapshots", args: []string{"-room-snapshot-mb", "0"}, checkCfg: func(t *testing.T, c validator.Config) {
			if c.RoomSnapshotBytes >= 0 {
				t.Fatalf("room snapshots %d, want none", c.RoomSnapshotBytes)
			}
		}},
		{name: "room snapshots bound", env: map[string]string{"CHILLIN_VALIDATOR_ROOM_SNAPSHOT_MB": "-1"}, wantErr: true},
		{name: "room cache too small", env: map[string]string{"CHILLIN_VALIDATOR_ROOM_CACHE_MB": "0"}, wantErr: true},
		{name: "no messages per room", args: []string{"-room-messages", "0"}, wantErr: true},
		{name: "no sessions", args: []string{"-sessions", "-1"}, wantErr: true},
		{name: "no media storage by default", checkCfg: func(t *testing.T, c validator.Config) {
			if c.Storage.Enabled() || c.Storage.Bucket != "chillin" {
				t.Fatalf("storage %+v", c.Storage)
			}
		}},
		{name: "media storage", env: map[string]string{
			"CHILLIN_S3_ENDPOINT": "minio:9000", "CHILLIN_S3_ACCESS_KEY": "ak", "CHILLIN_S3_SECRET_KEY": "sk",
			"CHILLIN_S3_BUCKET": "media", "CHILLIN_S3_SECURE": "true", "CHILLIN_S3_REGION": "eu-west-1",
		}, checkCfg: func(t *testing.T, c validator.Config) {
			s := c.Storage
			if !s.Enabled() || s.Endpoint != "minio:9000" || s.AccessKey != "ak" || s.SecretKey != "sk" || s.Bucket != "media" || !s.Secure || s.Region != "eu-west-1" {
				t.Fatalf("storage %+v", s)
			}
		}},
		{name: "default rate limits", checkCfg: func(t *testing.T, c validator.Config) {
			if c.RateLimits.String() != ratelimit.DefaultRules().String() {
				t.Fatalf("rate limits %v", c.RateLimits)
			}
		}},
		{name: "rate limits", env: map[string]string{"CHILLIN_RATE_LIMITS": "edit=3/1m,reaction=50/30s"}, args: []string{"-rate-limits", "edit=4/2m"},
			checkCfg: func(t *testing.T, c validator.Config) {
				if c.RateLimits[ratelimit.Edit] != (ratelimit.Rule{Limit: 4, Window: 2 * time.Minute}) ||
					c.RateLimits[ratelimit.Reaction] != ratelimit.DefaultRules()[ratelimit.Reaction] {
					t.Fatalf("rate limits %v", c.RateLimits)
				}
			}},
		{name: "bad rate limits", env: map[string]string{"CHILLIN_RATE_LIMITS": "edit=many/1m"}, wantErr: true},
		{name: "profiles", env: map[string]string{"CHILLIN_PPROF_ADDR": "127.0.0.1:6061"}, checkCfg: func(t *testing.T, c validator.Config) {
			if c.PprofAddr != "127.0.0.1:6061" {
				t.Fatalf("pprof address %q", c.PprofAddr)
			}
		}},
		{name: "media storage without keys", env: map[string]string{"CHILLIN_S3_ENDPOINT": "minio:9000"}, wantErr: true},
		{name: "bad s3-secure", env: map[string]string{"CHILLIN_S3_SECURE": "yes"}, wantErr: true},
		{name: "bad integer in the environment", env: map[string]string{"CHILLIN_RATE_LIMIT": "ten"}, wantErr: true},
		{name: "bad duration in the environment", env: map[string]string{"CHILLIN_RATE_WINDOW": "10"}, wantErr: true},
		{name: "zero limit", args: []string{"-rate-limit", "0"}, wantErr: true},
		{name: "negative runes", args: []string{"-max-message-runes", "-1"}, wantErr: true},
		{name: "unknown log format", env: map[string]string{"CHILLIN_LOG_FORMAT": "xml"}, wantErr: true},
		{name: "unknown log level", args: []string{"-log-level", "loud"}, wantErr: true},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: true},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				if cfg.Logger == nil {
					t.Fatal("no logger")
				}
				if tc.check != nil {
					tc.check(t, cfg.RateLimit, cfg.RateWindow, cfg.MaxTextRunes, cfg.NATSURL, cfg.RedisURL, cfg.RedisPrefix)
				}
				if tc.checkCfg != nil {
					tc.checkCfg(t, cfg)
				}
			}
		})
	}
}
