package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestClusterDatabase(t *testing.T) {
	for _, tc := range []struct{ explicit, def, want string }{
		{"", "postgres://postgres@127.0.0.1:5432/chillin?sslmode=disable", "postgres://postgres@127.0.0.1:5432/chillin_cluster?sslmode=disable"},
		{"", "postgres://u:p@db:6543/other", "postgres://u:p@db:6543/chillin_cluster"},
		{"postgres://x/y", "postgres://postgres@127.0.0.1:5432/chillin", "postgres://x/y"},
	} {
		got, err := clusterDatabase(tc.explicit, tc.def)
		if err != nil || got != tc.want {
			t.Errorf("clusterDatabase(%q, %q) = %q, %v; want %q", tc.explicit, tc.def, got, err, tc.want)
		}
	}
}

func TestRunRefusesBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "unsafe-deferred-sync not a boolean", env: map[string]string{"CHILLIN_UNSAFE_DEFERRED_SYNC": "yes"}, wantErr: "unsafe-deferred-sync"},
		{name: "stray argument", args: []string{"now"}, wantErr: "unexpected arguments"},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: "flag provided but not defined"},
		{name: "no binaries", args: []string{"-build=false", "-bin", t.TempDir(), "-dir", t.TempDir()}, wantErr: "not built"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
