package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/cachelayout"
	"github.com/chillin-chat/chillin/validator"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{name: "defaults", check: func(t *testing.T, c config) {
			v, p := c.stack.Validator, c.stack.Projector
			if c.dataDir != "var/data" || c.natsListen != "127.0.0.1:0" || v.DeferredSync || v.RateLimit != validator.DefaultRateLimit ||
				v.RateWindow != validator.DefaultRateWindow || v.MaxTextRunes != validator.DefaultMaxTextRunes || p.CacheWindow != cachelayout.DefaultWindow ||
				len(p.Views) != 3 {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "environment, shared with every service", env: map[string]string{
			"CHILLIN_DATA_DIR": "/d", "CHILLIN_UNSAFE_DEFERRED_SYNC": "true", "CHILLIN_RATE_LIMIT": "5", "CHILLIN_RATE_WINDOW": "1m",
			"CHILLIN_CACHE_WINDOW": "30", "CHILLIN_REDIS_PREFIX": "x:", "CHILLIN_STREAM_REPLICAS": "3", "CHILLIN_RATE_LIMITS": "edit=3/1m",
			"CHILLIN_S3_ENDPOINT": "minio:9000", "CHILLIN_S3_ACCESS_KEY": "a", "CHILLIN_S3_SECRET_KEY": "s",
		}, check: func(t *testing.T, c config) {
			g, v, p := c.stack.Gateway, c.stack.Validator, c.stack.Projector
			if c.dataDir != "/d" || !v.DeferredSync || v.RateLimit != 5 || v.RateWindow != time.Minute || p.CacheWindow != 30 {
				t.Errorf("own settings: %+v", c)
			}
			if g.RedisPrefix != "x:" || v.RedisPrefix != "x:" || p.RedisPrefix != "x:" ||
				v.Streams.Replicas != 3 || p.Streams.Replicas != 3 || v.RateLimits.String() != g.RateLimits.String() ||
				!strings.Contains(v.RateLimits.String(), "edit=3/1m") || v.Storage != g.Storage || !v.Storage.Enabled() {
				t.Errorf("shared settings: gateway %+v\nvalidator %+v\nprojector %+v", g, v, p)
			}
			if g.Logger == nil || v.Logger != g.Logger || p.Logger != g.Logger {
				t.Error("the services do not share the logger")
			}
		}},
		{name: "flags override the environment", env: map[string]string{"CHILLIN_RATE_LIMIT": "5"}, args: []string{"-rate-limit", "7", "-unsafe-deferred-sync"},
			check: func(t *testing.T, c config) {
				if c.stack.Validator.RateLimit != 7 || !c.stack.Validator.DeferredSync {
					t.Errorf("override: %+v", c.stack.Validator)
				}
			}},
		{name: "a bad variable of its own", env: map[string]string{"CHILLIN_RATE_WINDOW": "10"}, wantErr: "CHILLIN_RATE_WINDOW"},
		{name: "a bad variable of the gateway's", env: map[string]string{"CHILLIN_WS_FRAME_BURST": "0"}, wantErr: "ws-frame-burst"},
		{name: "not a boolean", env: map[string]string{"CHILLIN_UNSAFE_DEFERRED_SYNC": "yes"}, wantErr: "unsafe deferred sync"},
		{name: "bad log level", env: map[string]string{"CHILLIN_LOG_LEVEL": "loud"}, wantErr: "log level"},
		{name: "stray argument", args: []string{"x"}, wantErr: "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
	if _, err := parseConfig([]string{"-h"}, func(string) string { return "" }, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}
