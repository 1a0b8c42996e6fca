package cluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// The projection is checked against the log only when no NATS node has a
// store yet: one node's store is the log (the others catch up from it),
// while the store of the one-node layout (Dir/nats itself) is not.
func TestProjectionCheckedOnlyForANewLog(t *testing.T) {
	// Nothing answers here: a check that reached the database fails.
	cfg := Config{PostgresURL: "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"}
	for _, tc := range []struct {
		name    string
		stores  []string
		checked bool
	}{
		{"no store", nil, true},
		{"one-node layout", []string{"nats/jetstream"}, true},
		{"one node's store", []string{"nats/nats-2/jetstream"}, false},
		{"every node's store", []string{"nats/nats-1", "nats/nats-2", "nats/nats-3"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg.Dir = t.TempDir()
			for _, s := range tc.stores {
				if err := os.MkdirAll(filepath.Join(cfg.Dir, s), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			err := checkProjectionMatchesLog(context.Background(), cfg)
			if checked := err != nil; checked != tc.checked {
				t.Fatalf("checked the database: %v (%v), want %v", checked, err, tc.checked)
			}
		})
	}
}
