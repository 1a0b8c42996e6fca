package ops_test

import (
	"context"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/chillin-chat/chillin/events/opshttp"
	"github.com/chillin-chat/chillin/ops/nginx"
	"github.com/prometheus/client_golang/prometheus"
)

// No Docker engine runs here, so compose.yml is checked against the code:
// it must load, and every service, port, variable, healthcheck, build and
// mounted file it names must exist.

// chillinServices maps each compose service built from this repository to
// the module (folder) whose binary it runs.
var chillinServices = map[string]string{
	"gateway-1": "gateway", "gateway-2": "gateway", "validator": "validator", "projector": "projector",
}

func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// secrets are the variables compose.yml requires (ops/scripts/compose-secrets.sh
// writes them to .env), each with a value of its own.
var secrets = []string{
	"POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "CHILLIN_S3_SECRET_KEY",
	"NATS_GATEWAY_PASSWORD", "NATS_VALIDATOR_PASSWORD", "NATS_PROJECTOR_PASSWORD", "NATS_ADMIN_PASSWORD",
	"REDIS_GATEWAY_PASSWORD", "REDIS_VALIDATOR_PASSWORD", "REDIS_PROJECTOR_PASSWORD",
}

// secretValue is the value loadCompose gives a secret.
func secretValue(name string) string {
	return "test-" + strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	return loadComposeEnv(t, secretEnv())
}

func secretEnv() []string {
	var env []string
	for _, name := range secrets {
		env = append(env, name+"="+secretValue(name))
	}
	return env
}

func loadComposeEnv(t *testing.T, env []string) *types.Project {
	t.Helper()
	p, err := tryLoadCompose(t, env)
	if err != nil {
		t.Fatalf("compose.yml does not load: %v", err)
	}
	return p
}

func tryLoadCompose(t *testing.T, env []string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root(t), "compose.yml")},
		cli.WithWorkingDirectory(root(t)), cli.WithEnv(env), cli.WithInterpolation(true))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

// sources returns the text of every non-test Go file of a module folder.
func sources(t *testing.T, module string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(filepath.Join(root(t), module), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "node_modules" {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			b.Write(src)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString(sharedSettings(t, b.String()))
	return b.String()
}

// sharedSettings returns the text of the events/envflag methods that code
// calls: the settings every service shares (NATSURL, Storage, Logger, …)
// are read there, under the variables named in each method.
func sharedSettings(t *testing.T, code string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root(t), "events", "envflag", "common.go"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, m := range regexp.MustCompile(`(?s)\nfunc \(s \*Set\) (\w+)\(.*?\n}\n`).FindAllStringSubmatch(string(src), -1) {
		if strings.Contains(code, "."+m[1]+"(") {
			b.WriteString(m[0])
		}
	}
	return b.String()
}

// serves reports whether a module's code serves GET path: through the
// shared operations endpoints (events/opshttp: Handler, which Open serves),
// asked for real, or a route of its own.
func serves(t *testing.T, module, path string) bool {
	t.Helper()
	src := sources(t, module)
	if strings.Contains(src, "opshttp.Handler(") || strings.Contains(src, "opshttp.Open(") {
		w := httptest.NewRecorder()
		opshttp.Handler(prometheus.NewRegistry(), nil).ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code == http.StatusOK {
			return true
		}
	}
	return strings.Contains(src, strconv.Quote("GET "+path))
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	want := []string{"gateway-1", "gateway-2", "minio", "minio-init", "nats-1", "nats-2", "nats-3", "nginx", "postgres", "projector", "redis", "validator"}
	if got := slices.Sorted(func(yield func(string) bool) {
		for name := range p.Services {
			if !yield(name) {
				return
			}
		}
	}); !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	images := map[string]*regexp.Regexp{
		"postgres":   regexp.MustCompile(`^postgres:15(\.|$|-)`),
		"redis":      regexp.MustCompile(`^redis:7(\.|$|-)`),
		"nats-1":     regexp.MustCompile(`^nats:2\.(1[2-9]|[2-9][0-9])`), // 2.12 or newer: atomic batches
		"nats-2":     regexp.MustCompile(`^nats:2\.(1[2-9]|[2-9][0-9])`),
		"nats-3":     regexp.MustCompile(`^nats:2\.(1[2-9]|[2-9][0-9])`),
		"minio":      regexp.MustCompile(`^minio/minio(:|$)`),
		"minio-init": regexp.MustCompile(`^minio/mc(:|$)`),
		"nginx":      regexp.MustCompile(`^nginx(:|$)`),
	}
	for name, re := range images {
		if img := p.Services[name].Image; !re.MatchString(img) {
			t.Errorf("%s runs image %q, want %s", name, img, re)
		}
	}
	for _, name := range []string{"validator", "projector"} {
		if d := p.Services[name].Deploy; d == nil || d.Replicas == nil || *d.Replicas < 2 {
			t.Errorf("%s: want deploy.replicas of at least 2", name)
		}
	}
}

// Every CHILLIN_* variable given to a service is read by that service's code;
// the streams are R3 on the three NATS nodes; every service reaches them all.
func TestComposeEnvironmentIsRead(t *testing.T) {
	p := loadCompose(t)
	for name, module := range chillinServices {
		src := sources(t, module)
		env := p.Services[name].Environment
		for k := range env {
			if !strings.HasPrefix(k, "CHILLIN_") {
				t.Errorf("%s: variable %s is not Chillin's", name, k)
				continue
			}
			if !strings.Contains(src, strconv.Quote(k)) {
				t.Errorf("%s sets %s, which the %s code never reads", name, k, module)
			}
		}
		for _, k := range []string{"CHILLIN_NATS_URL", "CHILLIN_REDIS_URL", "CHILLIN_STREAM_REPLICAS", "CHILLIN_HTTP_ADDR"} {
			if env[k] == nil {
				t.Errorf("%s: %s not set", name, k)
			}
		}
		if v := env["CHILLIN_STREAM_REPLICAS"]; v == nil || *v != "3" {
			t.Errorf("%s: CHILLIN_STREAM_REPLICAS %v, want 3", name, v)
		}
		var servers []string
		for _, u := range strings.Split(*env["CHILLIN_NATS_URL"], ",") {
			pu, err := url.Parse(u)
			if err != nil {
				t.Fatalf("%s: NATS URL %q: %v", name, u, err)
			}
			servers = append(servers, pu.Hostname())
		}
		if slices.Sort(servers); !slices.Equal(servers, []string{"nats-1", "nats-2", "nats-3"}) {
			t.Errorf("%s reaches NATS servers %v, want all three", name, servers)
		}
		// The validator too: it looks up old resends there.
		if env["CHILLIN_POSTGRES_URL"] == nil {
			t.Errorf("%s: CHILLIN_POSTGRES_URL not set", name)
			continue
		}
		pg, err := url.Parse(*env["CHILLIN_POSTGRES_URL"])
		if err != nil || pg.Hostname() != "postgres" || pg.Path != "/chillin" {
			t.Errorf("%s: postgres URL %v", name, env["CHILLIN_POSTGRES_URL"])
		}
	}
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		env := p.Services[n].Environment
		if v := env["NATS_SERVER_NAME"]; v == nil || *v != n {
			t.Errorf("%s: NATS_SERVER_NAME %v", n, v)
		}
		if v := env["NATS_SYNC_INTERVAL"]; v == nil || *v == "" {
			t.Errorf("%s: no NATS_SYNC_INTERVAL", n)
		}
	}
}

// Every healthcheck asks something that answers: a Chillin service's
// healthcheck URL is on the port it listens on and a path its code serves.
func TestComposeHealthchecks(t *testing.T) {
	p := loadCompose(t)
	urlRe := regexp.MustCompile(`^https?://`)
	for name, s := range p.Services {
		if oneShot(s) {
			continue
		}
		hc := s.HealthCheck
		if hc == nil || len(hc.Test) < 2 || hc.Disable {
			t.Errorf("%s has no healthcheck", name)
			continue
		}
		module, ours := chillinServices[name]
		if !ours {
			continue
		}
		var target string
		for _, arg := range hc.Test {
			if urlRe.MatchString(arg) {
				target = arg
			}
		}
		u, err := url.Parse(target)
		if err != nil || target == "" {
			t.Errorf("%s: healthcheck %v asks no URL", name, hc.Test)
			continue
		}
		_, port, err := net.SplitHostPort(*s.Environment["CHILLIN_HTTP_ADDR"])
		if err != nil || u.Port() != port {
			t.Errorf("%s: healthcheck on port %s, service listens on %v", name, u.Port(), *s.Environment["CHILLIN_HTTP_ADDR"])
		}
		if !serves(t, module, u.Path) {
			t.Errorf("%s: healthcheck asks %s, which the %s code does not serve", name, u.Path, module)
		}
	}
	// depends_on waits for health where there is a healthcheck to wait for,
	// and for a one-shot step to have succeeded.
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			ds, ok := p.Services[dep]
			if !ok {
				t.Errorf("%s depends on %s, which is no service", name, dep)
				continue
			}
			want := types.ServiceConditionHealthy
			if oneShot(ds) {
				want = types.ServiceConditionCompletedSuccessfully
			}
			if d.Condition != want {
				t.Errorf("%s waits for %s to be %s, want %s", name, dep, d.Condition, want)
			}
		}
	}
}

// oneShot reports whether a service is a step that runs once and exits
// (restart "no", no healthcheck): others wait for it to complete.
func oneShot(s types.ServiceConfig) bool {
	return s.Restart == "no" && s.HealthCheck == nil
}

// Each Chillin service is built by a Dockerfile that exists, from a binary
// that exists, statically, into an image that runs as an unprivileged user.
func TestComposeBuilds(t *testing.T) {
	p := loadCompose(t)
	for name, module := range chillinServices {
		b := p.Services[name].Build
		if b == nil {
			t.Errorf("%s is not built here", name)
			continue
		}
		if b.Context != root(t) {
			t.Errorf("%s: build context %s, want the repository", name, b.Context)
		}
		df, err := os.ReadFile(filepath.Join(b.Context, b.Dockerfile))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		arg := b.Args["SERVICE"]
		if arg == nil || *arg != module {
			t.Errorf("%s: build arg SERVICE %v, want %s", name, arg, module)
			continue
		}
		if _, err := os.Stat(filepath.Join(root(t), module, "cmd", module, "main.go")); err != nil {
			t.Errorf("%s: no binary %s/cmd/%s: %v", name, module, module, err)
		}
		text := string(df)
		for _, want := range []string{`ARG SERVICE`, `CGO_ENABLED=0 go build`, `"./$SERVICE/cmd/$SERVICE"`} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: %s lacks %s", name, b.Dockerfile, want)
			}
		}
		if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(text, -1)); n < 2 {
			t.Errorf("%s: %s has %d stages, want a multi-stage build", name, b.Dockerfile, n)
		}
		user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(text, -1)
		if len(user) == 0 || strings.HasPrefix(user[len(user)-1][1], "0") || strings.HasPrefix(user[len(user)-1][1], "root") {
			t.Errorf("%s: %s does not run as an unprivileged user", name, b.Dockerfile)
		}
	}
}

// Files mounted into containers exist, and nginx's configuration is the
// template's rendering for these very gateways.
func TestComposeMountsAndNginx(t *testing.T) {
	p := loadCompose(t)
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s: %v", name, v.Source, err)
			}
		}
	}
	conf := nginx.Compose()
	mounted := false
	for _, v := range p.Services["nginx"].Volumes {
		if v.Target == "/etc/nginx/nginx.conf" && v.Source == filepath.Join(root(t), "ops", "nginx", "compose.conf") {
			mounted = true
		}
	}
	if !mounted {
		t.Error("nginx does not run ops/nginx/compose.conf")
	}
	for _, upstream := range conf.Gateways {
		host, port, _ := net.SplitHostPort(upstream)
		s, ok := p.Services[host]
		if !ok || chillinServices[host] != "gateway" {
			t.Errorf("nginx upstream %s is no gateway service", upstream)
			continue
		}
		if _, p, _ := net.SplitHostPort(*s.Environment["CHILLIN_HTTP_ADDR"]); p != port {
			t.Errorf("nginx upstream %s, but %s listens on %s", upstream, host, p)
		}
	}
	found := false
	for _, pm := range p.Services["nginx"].Ports {
		if pm.Target == 8080 && pm.Published == "8080" {
			found = true
		}
	}
	if !found || conf.Listen != "8080" {
		t.Errorf("nginx listens on %s and publishes %v, want 8080 both", conf.Listen, p.Services["nginx"].Ports)
	}
}
