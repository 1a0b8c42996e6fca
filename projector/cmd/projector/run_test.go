package main

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
	"github.com/chillin-chat/chillin/schema/schematest"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(t *testing.T, got string)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, got string) {
			want := "nats://127.0.0.1:4222|postgres://postgres@127.0.0.1:5432/chillin?sslmode=disable|redis://127.0.0.1:6379/0|chillin:|[pg live cache]|500|5ms|100"
			if got != want {
				t.Errorf("got %s\nwant %s", got, want)
			}
		}},
		{name: "environment", env: map[string]string{
			"CHILLIN_NATS_URL": "nats://n:4222", "CHILLIN_POSTGRES_URL": "postgres://p/db", "CHILLIN_REDIS_URL": "redis://r:6379/1",
			"CHILLIN_REDIS_PREFIX": "x:", "CHILLIN_PROJECTOR_VIEWS": " live ", "CHILLIN_PROJECTOR_BATCH_SIZE": "100",
			"CHILLIN_PROJECTOR_FLUSH_INTERVAL": "20ms", "CHILLIN_LOG_FORMAT": "text", "CHILLIN_CACHE_WINDOW": "30",
		}, check: func(t *testing.T, got string) {
			if want := "nats://n:4222|postgres://p/db|redis://r:6379/1|x:|[live]|100|20ms|30"; got != want {
				t.Errorf("got %s\nwant %s", got, want)
			}
		}},
		{name: "flags override the environment", env: map[string]string{"CHILLIN_PROJECTOR_VIEWS": "live", "CHILLIN_NATS_URL": "nats://env:1"},
			args: []string{"-views", "pg", "-nats", "nats://flag:2"}, check: func(t *testing.T, got string) {
				if !strings.HasPrefix(got, "nats://flag:2|") || !strings.Contains(got, "|[pg]|") {
					t.Errorf("got %s", got)
				}
			}},
		{name: "unknown view", env: map[string]string{"CHILLIN_PROJECTOR_VIEWS": "pg,redis"}, wantErr: `unknown view "redis"`},
		{name: "no views", args: []string{"-views", ","}, wantErr: "no views"},
		{name: "bad batch size", env: map[string]string{"CHILLIN_PROJECTOR_BATCH_SIZE": "0"}, wantErr: "batch size"},
		{name: "bad cache window", env: map[string]string{"CHILLIN_CACHE_WINDOW": "0"}, wantErr: "cache window"},
		{name: "bad flush interval", env: map[string]string{"CHILLIN_PROJECTOR_FLUSH_INTERVAL": "5"}, wantErr: "flush interval"},
		{name: "unknown log format", env: map[string]string{"CHILLIN_LOG_FORMAT": "xml"}, wantErr: "log format"},
		{name: "stray argument", args: []string{"pg"}, wantErr: "unexpected arguments"},
		{name: "unknown flag", args: []string{"-verbose"}, wantErr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			cfg, err := parseConfig(tt.args, getenv, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Logger == nil {
				t.Fatal("no logger")
			}
			tt.check(t, strings.Join([]string{cfg.NATSURL, cfg.PostgresURL, cfg.RedisURL, cfg.RedisPrefix,
				strings.Join([]string{"[", strings.Join(cfg.Views, " "), "]"}, ""),
				strconv.Itoa(cfg.BatchSize), cfg.FlushInterval.String(), strconv.Itoa(cfg.CacheWindow)}, "|"))
		})
	}
}

func TestParseOpsConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		addr     string
		replicas int
		wantErr  string
	}{
		{name: "defaults", addr: "127.0.0.1:9102", replicas: 1},
		{name: "environment", env: map[string]string{"CHILLIN_HTTP_ADDR": "0.0.0.0:9300", "CHILLIN_STREAM_REPLICAS": "3"}, addr: "0.0.0.0:9300", replicas: 3},
		{name: "flags override", env: map[string]string{"CHILLIN_HTTP_ADDR": "0.0.0.0:9300", "CHILLIN_STREAM_REPLICAS": "3"},
			args: []string{"-http", "", "-stream-replicas", "1"}, addr: "", replicas: 1},
		{name: "zero replicas", env: map[string]string{"CHILLIN_STREAM_REPLICAS": "0"}, wantErr: "stream replicas"},
		{name: "replicas not a number", args: []string{"-stream-replicas", "three"}, wantErr: "stream replicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.HTTPAddr != tc.addr || cfg.Streams.Replicas != tc.replicas {
				t.Fatalf("http %q replicas %d, want %q %d", cfg.HTTPAddr, cfg.Streams.Replicas, tc.addr, tc.replicas)
			}
		})
	}
}

// TestRun starts the command against real NATS and Postgres, waits until the
// pg view has applied a fact, and stops it as a signal would.
func TestRun(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.Connect(t, s)
	pool, dbURL := schematest.NewDB(t)
	env := map[string]string{"CHILLIN_NATS_URL": s.ClientURL(), "CHILLIN_POSTGRES_URL": dbURL, "CHILLIN_PROJECTOR_VIEWS": "pg", "CHILLIN_HTTP_ADDR": "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, &stderr) }()

	projtest.Eventually(t, "streams", func() bool {
		_, err := js.Stream(context.Background(), "CHAT_EVT")
		return err == nil
	})
	projtest.Publish(t, js, projtest.Scenario(t)[:1]...)
	projtest.Eventually(t, "the first fact applied", func() bool { return projtest.Checkpoint(t, pool) == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if !strings.Contains(stderr.String(), `"msg":"projector stopped"`) {
			t.Errorf("want JSON logs ending with the stop:\n%s", stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not return after cancel")
	}
}
