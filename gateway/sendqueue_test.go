package gateway

import (
	"flag"
	"strings"
	"testing"
)

// A send queue too small for two replies would close a socket that asks for
// two syncs in a row; such a Config is refused.
func TestConfigRefusesASendQueueBelowTwoReplies(t *testing.T) {
	base := Config{NATSURL: "nats://x", PostgresURL: "postgres://x", RedisURL: "redis://x"}
	small := base
	small.SendQueueBytes = replyBudget
	if err := small.setDefaults(); err == nil || !strings.Contains(err.Error(), "send queue bytes") {
		t.Fatalf("a send queue of %d bytes: %v, want refused", replyBudget, err)
	}
	if err := base.setDefaults(); err != nil || base.SendQueueBytes != 1<<20 {
		t.Fatalf("defaults: %v, send queue bytes %d", err, base.SendQueueBytes)
	}
}

func TestSendQueueBytesFlag(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    int
		wantErr bool
	}{{"", 1 << 20, false}, {"4194304", 4 << 20, false}, {"lots", 0, true}, {"-1", 0, true}} {
		fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
		build := Flags(fs, func(k string) string {
			if k == "CHILLIN_WS_SEND_QUEUE_BYTES" {
				return tc.env
			}
			return ""
		})
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		c, err := build()
		if (err != nil) != tc.wantErr || (err == nil && c.SendQueueBytes != tc.want) {
			t.Errorf("CHILLIN_WS_SEND_QUEUE_BYTES=%q: %d, %v", tc.env, c.SendQueueBytes, err)
		}
	}
}
