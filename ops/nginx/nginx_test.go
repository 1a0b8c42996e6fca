package nginx

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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

// nginxBin is the nginx program.
func nginxBin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("nginx is not installed (ops/scripts/deps.sh installs it): %v", err)
	}
	return bin
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// nginx itself accepts the rendering (nginx -t), with the gateways on
// loopback addresses it can resolve.
func TestNginxAcceptsTheRendering(t *testing.T) {
	bin := nginxBin(t)
	dir := t.TempDir()
	addr := freeAddr(t) // nginx -t wants a real port, and does not bind it
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

// A running nginx with the rendering passes requests to a gateway, but
// answers 404 itself for /metrics and /debug/ however they are spelled.
func TestNginxKeepsOperatorEndpointsOff(t *testing.T) {
	bin := nginxBin(t)
	var reached []string
	var mu sync.Mutex
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = append(reached, r.URL.Path)
		mu.Unlock()
		_, _ = io.WriteString(w, "gateway")
	}))
	defer gw.Close()

	dir := t.TempDir()
	front := freeAddr(t)
	b, err := Render(Config{Purpose: "test", Listen: front, Gateways: []string{gw.Listener.Addr().String()},
		PIDFile: filepath.Join(dir, "nginx.pid"), ErrorLog: "stderr", AccessLog: "off", TempDir: dir, Workers: "1"})
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-e", "stderr", "-c", conf, "-g", "daemon off;")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		_ = cmd.Wait()
	})
	get := func(path string) (int, string) {
		t.Helper()
		c, err := net.Dial("tcp", front)
		if err != nil {
			return 0, err.Error()
		}
		defer c.Close()
		// Written raw, so that the path reaches nginx exactly as spelled.
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: chillin\r\nConnection: close\r\n\r\n"); err != nil {
			return 0, err.Error()
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := get("/api/rooms"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not serve within 10 s:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, path := range []string{"/metrics", "/metrics?x=1", "/metrics/", "//metrics", "/%6detrics", "/./metrics",
		"/api/../metrics", "/debug/pprof/", "/debug/pprof/profile?seconds=30", "/%64ebug/pprof/", "/debug"} {
		if code, body := get(path); code != http.StatusNotFound || strings.Contains(body, "gateway") {
			t.Errorf("GET %s: %d %q, want nginx's 404", path, code, body)
		}
	}
	for _, path := range []string{"/", "/health", "/ws", "/api/rooms"} {
		if code, body := get(path); code != http.StatusOK || body != "gateway" {
			t.Errorf("GET %s: %d %q, want the gateway's answer", path, code, body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range reached {
		if strings.Contains(p, "metrics") || strings.Contains(p, "debug") {
			t.Errorf("the gateway was asked for %s", p)
		}
	}
}
