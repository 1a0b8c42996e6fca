package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/chillin-chat/chillin/ops/cluster"
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

// The listing names every process with its pid and endpoints, one per line,
// in the columns ops/scripts/bench.sh reads: the front's URL after
// "Chillin cluster is running at", and a gateway's or projector's address
// as the third field of its line.
func TestPrintAddresses(t *testing.T) {
	c := &cluster.Cluster{
		URL: "http://127.0.0.1:8000", NATSURL: "nats://127.0.0.1:4001,nats://127.0.0.1:4002,nats://127.0.0.1:4003",
		Gateways:   []*cluster.Proc{{Name: "gateway-1", Addr: "127.0.0.1:8001", Pprof: "127.0.0.1:8101"}, {Name: "gateway-2", Addr: "127.0.0.1:8002"}},
		Validators: []*cluster.Proc{{Name: "validator-1", Addr: "127.0.0.1:8003"}},
		Projectors: []*cluster.Proc{{Name: "projector-1", Addr: "127.0.0.1:8004"}},
		Nginx:      &cluster.Proc{Name: "nginx", Addr: "127.0.0.1:8000"},
	}
	for i := range 3 {
		c.NATS = append(c.NATS, &cluster.Proc{Name: fmt.Sprint("nats-", i+1), Addr: fmt.Sprint("127.0.0.1:822", i+1), URL: fmt.Sprint("nats://127.0.0.1:400", i+1)})
	}
	var b strings.Builder
	printAddresses(&b, c, "var/cluster/logs")
	out := b.String()
	if !strings.HasPrefix(out, "Chillin cluster is running at http://127.0.0.1:8000 (nginx → gateway-1, gateway-2).") ||
		!strings.Contains(out, "NATS: 3 JetStream nodes, streams replicated on each: "+c.NATSURL+"\n") {
		t.Fatalf("header:\n%s", out)
	}
	third := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 {
			third[f[0]] = f[2]
		}
	}
	for name, want := range map[string]string{
		"nats-1": "nats://127.0.0.1:4001", "nats-2": "nats://127.0.0.1:4002", "nats-3": "nats://127.0.0.1:4003",
		"gateway-1": "http://127.0.0.1:8001/", "gateway-2": "http://127.0.0.1:8002/",
		"validator-1": "http://127.0.0.1:8003/metrics", "projector-1": "http://127.0.0.1:8004/metrics", "nginx": "http://127.0.0.1:8000/",
	} {
		if third[name] != want {
			t.Errorf("%s's line has %q as its address, want %q\n%s", name, third[name], want, out)
		}
	}
	if !strings.Contains(out, "profiles http://127.0.0.1:8101/debug/pprof/") {
		t.Errorf("gateway-1's profiles address missing:\n%s", out)
	}
}
