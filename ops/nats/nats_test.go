package nats_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	natsconf "github.com/chillin-chat/chillin/ops/nats"
)

// buildServer builds the nats-server the ops module pins.
func buildServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	return bin
}

// The pinned nats-server accepts both configuration files (nats-server -t),
// with sync_interval "always" (the default) or a duration, and refuses a bad one.
func TestServerAcceptsTheConfigs(t *testing.T) {
	bin := buildServer(t)
	dir := t.TempDir()
	files := map[string][]byte{"local.conf": natsconf.Local, "cluster.conf": natsconf.Cluster}
	if err := os.WriteFile(filepath.Join(dir, "users.conf"), natsconf.Users, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, sync string
		ok         bool
	}{
		{"local.conf", natsconf.SyncInterval(true), true},
		{"local.conf", natsconf.SyncInterval(false), true},
		{"cluster.conf", natsconf.SyncInterval(true), true},
		{"cluster.conf", natsconf.SyncInterval(false), true},
		{"cluster.conf", "30s", true},
		{"cluster.conf", "2m", false}, // a size, not a duration: see the comment in cluster.conf
		{"cluster.conf", "sometimes", false},
	} {
		t.Run(tc.file+" "+tc.sync, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			if err := os.WriteFile(path, files[tc.file], 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "-t", "-c", path)
			cmd.Env = []string{
				"NATS_SERVER_NAME=nats-1", "NATS_SYNC_INTERVAL=" + tc.sync, "NATS_HOST=127.0.0.1", "NATS_PORT=4222",
				"NATS_HTTP_PORT=8222", "NATS_STORE_DIR=" + filepath.Join(dir, "store"), "NATS_CLUSTER_PORT=6222",
				"NATS_ROUTES=" + natsconf.Routes([]string{"127.0.0.1:6222", "127.0.0.1:6223", "127.0.0.1:6224"}),
				"NATS_GATEWAY_PASSWORD=g", "NATS_VALIDATOR_PASSWORD=v", "NATS_PROJECTOR_PASSWORD=p", "NATS_ADMIN_PASSWORD=a",
			}
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.ok {
				t.Fatalf("nats-server -t: %v, want ok %v\n%s", err, tc.ok, out)
			}
			if tc.ok && !strings.Contains(string(out), "is valid") {
				t.Fatalf("nats-server -t said %s", out)
			}
		})
	}
}

func TestSyncInterval(t *testing.T) {
	if natsconf.SyncInterval(true) != "always" || natsconf.SyncInterval(false) != "2m0s" {
		t.Fatal(natsconf.SyncInterval(true), natsconf.SyncInterval(false))
	}
}

// A local node reads its cluster port and every node's route from the
// environment, as ops/cluster sets them.
func TestLocalNodeRoutes(t *testing.T) {
	addrs := []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}
	if got, want := natsconf.Routes(addrs[:2]), "[nats-route://127.0.0.1:7001, nats-route://127.0.0.1:7002]"; got != want {
		t.Fatalf("Routes = %q, want %q", got, want)
	}
	for k, v := range map[string]string{
		"NATS_SERVER_NAME": "nats-2", "NATS_HOST": "127.0.0.1", "NATS_PORT": "7100", "NATS_HTTP_PORT": "7200",
		"NATS_CLUSTER_PORT": "7002", "NATS_ROUTES": natsconf.Routes(addrs),
		"NATS_STORE_DIR": t.TempDir(), "NATS_SYNC_INTERVAL": natsconf.SyncInterval(true),
	} {
		t.Setenv(k, v)
	}
	conf := filepath.Join(t.TempDir(), "local.conf")
	if err := os.WriteFile(conf, natsconf.Local, 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, u := range opts.Routes {
		routes = append(routes, u.Host)
	}
	if opts.ServerName != "nats-2" || opts.Cluster.Name != "chillin" || opts.Cluster.Host != "127.0.0.1" ||
		opts.Cluster.Port != 7002 || !slices.Equal(routes, addrs) || !opts.SyncAlways {
		t.Fatalf("server %q cluster %q at %s:%d, routes %v, sync always %v", opts.ServerName, opts.Cluster.Name,
			opts.Cluster.Host, opts.Cluster.Port, routes, opts.SyncAlways)
	}
}
