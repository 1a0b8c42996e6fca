package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/cachelayout"
	"github.com/chillin-chat/chillin/events/envflag/envflagtest"
	"github.com/chillin-chat/chillin/validator"
)

func TestParseConfig(t *testing.T) {
	parse := func(getenv func(string) string, args []string) (config, error) {
		return parseConfig(args, getenv, io.Discard)
	}
	envflagtest.Run(t, parse, []envflagtest.Case[config]{
		{Name: "defaults", Check: func(t *testing.T, c config) {
			v, p := c.stack.Validator, c.stack.Projector
			if c.dataDir != "var/data" || c.natsListen != "127.0.0.1:0" || v.DeferredSync || v.RateLimit != validator.DefaultRateLimit ||
				v.RateWindow != validator.DefaultRateWindow || v.MaxTextRunes != validator.DefaultMaxTextRunes || p.CacheWindow != cachelayout.DefaultWindow ||
				len(p.Views) != 3 {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{Name: "environment, shared with every service", Env: map[string]string{
			"CHILLIN_DATA_DIR": "/d", "CHILLIN_UNSAFE_DEFERRED_SYNC": "true", "CHILLIN_RATE_LIMIT": "5", "CHILLIN_RATE_WINDOW": "1m",
			"CHILLIN_CACHE_WINDOW": "30", "CHILLIN_REDIS_PREFIX": "x:", "CHILLIN_STREAM_REPLICAS": "3", "CHILLIN_RATE_LIMITS": "edit=3/1m",
			"CHILLIN_S3_ENDPOINT": "minio:9000", "CHILLIN_S3_ACCESS_KEY": "a", "CHILLIN_S3_SECRET_KEY": "s",
		}, Check: func(t *testing.T, c config) {
			g, v, p := c.stack.Gateway, c.stack.Validator, c.stack.Projector
			if c.dataDir != "/d" || !v.DeferredSync || v.RateLimit != 5 || v.RateWindow != time.Minute || p.CacheWindow != 30 {
				t.Errorf("own settings: %+v", c)
			}
			if g.RedisPrefix != "x:" || v.RedisPrefix != "x:" || p.RedisPrefix != "x:" ||
				v.Streams.Replicas != 3 || p.Streams.Replicas != 3 || v.RateLimits.String() != g.RateLimits.String() ||
				!strings.Contains(v.RateLimits.String(), "edit=3/1m") || v.Storage != g.Storage || !v.Storage.Enabled() ||
				v.PostgresURL == "" || v.PostgresURL != g.PostgresURL || p.PostgresURL != g.PostgresURL {
				t.Errorf("shared settings: gateway %+v\nvalidator %+v\nprojector %+v", g, v, p)
			}
			if g.Logger == nil || v.Logger != g.Logger || p.Logger != g.Logger {
				t.Error("the services do not share the logger")
			}
		}},
		{Name: "flags override the environment", Env: map[string]string{"CHILLIN_RATE_LIMIT": "5"}, Args: []string{"-rate-limit", "7", "-unsafe-deferred-sync"},
			Check: func(t *testing.T, c config) {
				if c.stack.Validator.RateLimit != 7 || !c.stack.Validator.DeferredSync {
					t.Errorf("override: %+v", c.stack.Validator)
				}
			}},
		{Name: "a bad variable of its own", Env: map[string]string{"CHILLIN_RATE_WINDOW": "10"}, WantErr: "CHILLIN_RATE_WINDOW"},
		{Name: "a bad variable of the gateway's", Env: map[string]string{"CHILLIN_WS_FRAME_BURST": "0"}, WantErr: "ws-frame-burst"},
		{Name: "not a boolean", Env: map[string]string{"CHILLIN_UNSAFE_DEFERRED_SYNC": "yes"}, WantErr: "unsafe deferred sync"},
		{Name: "-strict=false of older scripts keeps every write synced", Args: []string{"-strict=false"},
			Check: func(t *testing.T, c config) {
				if c.stack.Validator.DeferredSync {
					t.Error("-strict=false deferred the syncs")
				}
			}},
		{Name: "-strict with deferred syncs", Args: []string{"-strict", "-unsafe-deferred-sync"}, WantErr: "contradict"},
		{Name: "bad log level", Env: map[string]string{"CHILLIN_LOG_LEVEL": "loud"}, WantErr: "log level"},
		{Name: "stray argument", Args: []string{"x"}, WantErr: "unexpected arguments"},
	})
	if _, err := parseConfig([]string{"-h"}, func(string) string { return "" }, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}
