package nginx

import (
	"bytes"
	"flag"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite compose.conf from the template")

// compose.conf is the template rendered for compose.yml, never edited by hand.
func TestComposeConf(t *testing.T) {
	got, err := Render(Compose())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("compose.conf", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("compose.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("compose.conf differs from the template's rendering: go test ./nginx -run TestComposeConf -update")
	}
}

func TestRender(t *testing.T) {
	base := func() Config {
		return Config{Purpose: "test", Listen: "127.0.0.1:8000", Gateways: []string{"127.0.0.1:8001", "127.0.0.1:8002"},
			PIDFile: "/tmp/p", ErrorLog: "stderr", AccessLog: "off"}
	}
	for _, tc := range []struct {
		name    string
		edit    func(*Config)
		want    []string
		wantErr bool
	}{
		{name: "defaults", edit: func(*Config) {}, want: []string{
			"ip_hash;",
			"server 127.0.0.1:8001 max_fails=1 fail_timeout=5s;",
			"server 127.0.0.1:8002 max_fails=1 fail_timeout=5s;",
			"listen 127.0.0.1:8000;",
			"proxy_set_header Upgrade $http_upgrade;",
			"proxy_set_header Connection $connection_upgrade;",
			"proxy_read_timeout 1h;",
			"worker_processes auto;",
		}},
		{name: "health check settings", edit: func(c *Config) { c.MaxFails, c.FailTimeout = 3, 30*time.Second },
			want: []string{"server 127.0.0.1:8001 max_fails=3 fail_timeout=30s;"}},
		{name: "temporary files", edit: func(c *Config) { c.TempDir = "/x" }, want: []string{"proxy_temp_path /x/proxy;"}},
		{name: "no gateways", edit: func(c *Config) { c.Gateways = nil }, wantErr: true},
		{name: "no listen address", edit: func(c *Config) { c.Listen = "" }, wantErr: true},
		{name: "directive smuggled in an address", edit: func(c *Config) { c.Gateways = []string{"a:1; include /etc/passwd"} }, wantErr: true},
		{name: "fractional fail timeout", edit: func(c *Config) { c.FailTimeout = 1500 * time.Millisecond }, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.edit(&cfg)
			b, err := Render(cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("rendering lacks %q:\n%s", w, b)
				}
			}
		})
	}
}

// nginx itself accepts the rendering (nginx -t), with the gateways on
// loopback addresses it can resolve.
func TestNginxAcceptsTheRendering(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("nginx is not installed (ops/scripts/deps.sh installs it): %v", err)
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // nginx -t wants a real port, and does not bind it
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := Config{Purpose: "test", Listen: addr, Gateways: []string{"127.0.0.1:1", "127.0.0.1:2"},
		PIDFile: filepath.Join(dir, "nginx.pid"), ErrorLog: filepath.Join(dir, "error.log"), AccessLog: "off", TempDir: dir}
	b, err := Render(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, b)
	}
}
