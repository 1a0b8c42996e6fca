package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/envflag/envflagtest"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/chillin-chat/chillin/projector"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
	"github.com/chillin-chat/chillin/schema/schematest"
)

// summary is what a case of TestParseConfig checks of c.
func summary(c projector.Config) string {
	return strings.Join([]string{c.NATSURL, c.PostgresURL, c.RedisURL, c.RedisPrefix,
		strings.Join([]string{"[", strings.Join(c.Views, " "), "]"}, ""),
		strconv.Itoa(c.BatchSize), c.FlushInterval.String(), strconv.Itoa(c.CacheWindow)}, "|")
}

// parse parses a configuration, refusing one without a logger.
func parse(getenv func(string) string, args []string) (projector.Config, error) {
	c, err := parseConfig(args, getenv, io.Discard)
	if err == nil && c.Logger == nil {
		err = errors.New("no logger")
	}
	return c, err
}

func TestParseConfig(t *testing.T) {
	envflagtest.Run(t, parse, []envflagtest.Case[projector.Config]{
		{Name: "defaults", Check: func(t *testing.T, c projector.Config) {
			want := "nats://127.0.0.1:4222|postgres://postgres@127.0.0.1:5432/chillin?sslmode=disable|redis://127.0.0.1:6379/0|chillin:|[pg live cache]|500|5ms|100"
			if got := summary(c); got != want {
				t.Errorf("got %s\nwant %s", got, want)
			}
		}},
		{Name: "environment", Env: map[string]string{
			"CHILLIN_NATS_URL": "nats://n:4222", "CHILLIN_POSTGRES_URL": "postgres://p/db", "CHILLIN_REDIS_URL": "redis://r:6379/1",
			"CHILLIN_REDIS_PREFIX": "x:", "CHILLIN_PROJECTOR_VIEWS": " live ", "CHILLIN_PROJECTOR_BATCH_SIZE": "100",
			"CHILLIN_PROJECTOR_FLUSH_INTERVAL": "20ms", "CHILLIN_LOG_FORMAT": "text", "CHILLIN_CACHE_WINDOW": "30",
		}, Check: func(t *testing.T, c projector.Config) {
			if got, want := summary(c), "nats://n:4222|postgres://p/db|redis://r:6379/1|x:|[live]|100|20ms|30"; got != want {
				t.Errorf("got %s\nwant %s", got, want)
			}
		}},
		{Name: "flags override the environment", Env: map[string]string{"CHILLIN_PROJECTOR_VIEWS": "live", "CHILLIN_NATS_URL": "nats://env:1"},
			Args: []string{"-views", "pg", "-nats", "nats://flag:2"}, Check: func(t *testing.T, c projector.Config) {
				if got := summary(c); !strings.HasPrefix(got, "nats://flag:2|") || !strings.Contains(got, "|[pg]|") {
					t.Errorf("got %s", got)
				}
			}},
		{Name: "unknown view", Env: map[string]string{"CHILLIN_PROJECTOR_VIEWS": "pg,redis"}, WantErr: `unknown view "redis"`},
		{Name: "no views", Args: []string{"-views", ","}, WantErr: "no views"},
		{Name: "bad batch size", Env: map[string]string{"CHILLIN_PROJECTOR_BATCH_SIZE": "0"}, WantErr: "batch size"},
		{Name: "bad cache window", Env: map[string]string{"CHILLIN_CACHE_WINDOW": "0"}, WantErr: "cache window"},
		{Name: "bad flush interval", Env: map[string]string{"CHILLIN_PROJECTOR_FLUSH_INTERVAL": "5"}, WantErr: "flush interval"},
		{Name: "unknown log format", Env: map[string]string{"CHILLIN_LOG_FORMAT": "xml"}, WantErr: "log format"},
		{Name: "stray argument", Args: []string{"pg"}, WantErr: "unexpected arguments"},
		{Name: "unknown flag", Args: []string{"-verbose"}, WantErr: "flag provided but not defined"},
	})
}

// ops checks the ops address and the stream replicas.
func ops(addr string, replicas int) func(*testing.T, projector.Config) {
	return func(t *testing.T, c projector.Config) {
		if c.HTTPAddr != addr || c.Streams.Replicas != replicas {
			t.Fatalf("http %q replicas %d, want %q %d", c.HTTPAddr, c.Streams.Replicas, addr, replicas)
		}
	}
}

func TestParseOpsConfig(t *testing.T) {
	envflagtest.Run(t, parse, []envflagtest.Case[projector.Config]{
		{Name: "defaults", Check: ops("127.0.0.1:9102", 1)},
		{Name: "environment", Env: map[string]string{"CHILLIN_HTTP_ADDR": "0.0.0.0:9300", "CHILLIN_STREAM_REPLICAS": "3"}, Check: ops("0.0.0.0:9300", 3)},
		{Name: "flags override", Env: map[string]string{"CHILLIN_HTTP_ADDR": "0.0.0.0:9300", "CHILLIN_STREAM_REPLICAS": "3"},
			Args: []string{"-http", "", "-stream-replicas", "1"}, Check: ops("", 1)},
		{Name: "zero replicas", Env: map[string]string{"CHILLIN_STREAM_REPLICAS": "0"}, WantErr: "stream replicas"},
		{Name: "replicas not a number", Args: []string{"-stream-replicas", "three"}, WantErr: "stream replicas"},
	})
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
