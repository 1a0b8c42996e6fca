package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		logged  string // what a Warn line looks like, "" when filtered
	}{
		{name: "defaults: JSON at info", logged: `"level":"WARN"`},
		{name: "text", env: map[string]string{"CHILLIN_LOG_FORMAT": "text"}, logged: "level=WARN"},
		{name: "level from a flag", env: map[string]string{"CHILLIN_LOG_LEVEL": "debug"}, args: []string{"-log-level", "error"}},
		{name: "bad level", env: map[string]string{"CHILLIN_LOG_LEVEL": "loud"}, wantErr: "log level"},
		{name: "bad gateway setting", env: map[string]string{"CHILLIN_SESSION_TTL": "a day"}, wantErr: "session-ttl"},
		{name: "stray argument", args: []string{"x"}, wantErr: "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.UI == nil || cfg.Logger == nil || cfg.HTTPAddr != "127.0.0.1:8080" {
				t.Fatalf("config %+v", cfg)
			}
			cfg.Logger.Warn("w")
			if got := stderr.String(); (tc.logged == "") != (got == "") || !strings.Contains(got, tc.logged) {
				t.Fatalf("logged %q, want %q", got, tc.logged)
			}
		})
	}
	if _, err := parseConfig([]string{"-h"}, func(string) string { return "" }, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}
