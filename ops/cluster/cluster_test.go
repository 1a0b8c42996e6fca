package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"

	"github.com/chillin-chat/chillin/events/opshttp/opshttptest"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/ops/cluster"
	"github.com/chillin-chat/chillin/schema/schematest"
)

// binDir holds the binaries every test's cluster runs, built once.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "chillin-cluster-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		root, err := cluster.Root(".")
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			err = cluster.Build(ctx, "go", root, dir)
			cancel()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "build the cluster's binaries:", err)
			return 1
		}
		binDir = dir
		return m.Run()
	}())
}

// testWriter sends lines to t.Log, so they show for failing tests only.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// system is a cluster started for one test, with its fresh database.
type system struct {
	*cluster.Cluster
	t    *testing.T
	pool *pgxpool.Pool
	// sources[i] is a source address whose clients nginx sends to gateway i.
	sources []string
}

// start runs a cluster of two of each service behind nginx, with env given
// to every service, on a fresh database and Redis prefix. At the end of the
// test it is stopped, and every process must stop cleanly.
func start(t *testing.T, env map[string]string) *system {
	t.Helper()
	// The tests register their users from a few addresses, far more of them
	// than the per-address limit of a real deployment allows.
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["CHILLIN_REGISTER_LIMIT"]; !ok {
		env["CHILLIN_REGISTER_LIMIT"] = "1000000"
	}
	pool, pgURL := schematest.NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Config{
		Bin: binDir, Dir: t.TempDir(), PostgresURL: pgURL, RedisURL: redistest.URL(),
		RedisPrefix: redistest.Prefix(t), Env: env,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Last: on failure, what each process said.
		if t.Failed() {
			for _, p := range c.Procs() {
				t.Logf("---- %s (%s), last lines:\n%s", p.Name, p.Log, p.LogTail(40))
			}
		}
	})
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
		for {
			select {
			case p := <-c.Exits():
				t.Errorf("%s exited without being asked to", p.Name)
				continue
			default:
			}
			return
		}
	})
	s := &system{Cluster: c, t: t, pool: pool}
	s.sources = ipHashSources(len(c.Gateways))
	return s
}

// ipHashSources finds, for each of n gateways, a loopback source address
// that nginx's ip_hash sends to it. ip_hash hashes the first three octets of
// a client's IPv4 address (89, then h = (h*113 + octet) % 6271 for each) and
// takes the hash modulo the total weight; the upstreams all weigh 1. Every
// connection a test makes is also checked against the gateways' own counts
// (dialOn), so a different nginx would make the test fail, not pass wrongly.
func ipHashSources(n int) []string {
	out := make([]string, n)
	found := 0
	for third := 0; third < 256 && found < n; third++ {
		h := 89
		for _, octet := range []int{127, 0, third} {
			h = (h*113 + octet) % 6271
		}
		if i := h % n; out[i] == "" {
			out[i] = fmt.Sprintf("127.0.%d.1", third)
			found++
		}
	}
	return out
}

// dialOn connects a user's socket through nginx from gateway i's source
// address and makes sure gateway i holds it.
//
// After a gateway failed, nginx skips it for fail_timeout, then lets one
// request through as a trial and counts the gateway healthy again only once
// that request has ended. A WebSocket as the trial keeps the gateway on
// probation for as long as it stays open, so short requests (GET /health)
// go first: one of them becomes the trial. A socket that still lands on the
// other gateway is closed and dialled again.
func (s *system) dialOn(i int, name, token string) *client {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	probe := httpFrom(s.sources[i])
	for {
		if resp, err := probe.Get(s.URL + "/health"); err == nil {
			resp.Body.Close()
		}
		before := s.connections(i)
		c := &client{t: s.t, name: name, base: s.URL, src: s.sources[i], token: token, last: map[string]uint64{}}
		if err := c.connect(); err != nil {
			s.t.Fatalf("%s: %v", name, err)
		}
		landed := false
		for wait := time.Now().Add(3 * time.Second); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
			if s.connections(i) == before+1 {
				landed = true
				break
			}
		}
		if landed {
			s.t.Cleanup(func() { c.ws.CloseNow() })
			return c
		}
		c.ws.CloseNow()
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: nginx never sent %s to %s", name, s.sources[i], s.Gateways[i].Name)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// connections is gateway i's count of open sockets.
func (s *system) connections(i int) float64 {
	s.t.Helper()
	return value(opshttptest.Scrape(s.t, "http://"+s.Gateways[i].Addr), "chillin_gateway_connections")
}

// value sums the series of family name that carry every label=value pair in
// labels: counters and gauges by value, histograms by sample count.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	var sum float64
next:
	for _, m := range fams[name].GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
				return l.GetName() == labels[i] && l.GetValue() == labels[i+1]
			}) {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// series returns the first series of family name carrying label=value.
func series(fams map[string]*dto.MetricFamily, name, label, val string) (*dto.Metric, bool) {
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == val {
				return m, true
			}
		}
	}
	return nil, false
}

// eventually polls cond every 50ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get returns a GET's status.
func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// pgMessages counts a room's messages in Postgres, and how many distinct
// (user, clientId) and seqs they have.
func (s *system) pgMessages(room string) (n, distinct, seqs int) {
	s.t.Helper()
	err := s.pool.QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT (user_id, client_id)), count(DISTINCT seq) FROM messages WHERE room_id = $1`, room).Scan(&n, &distinct, &seqs)
	if err != nil {
		s.t.Fatal(err)
	}
	return n, distinct, seqs
}

// A database holding the projection of another log is refused when the
// cluster's JetStream store is new: the projector would skip this log's
// facts up to the old checkpoint.
func TestStartRefusesAnotherLogsProjection(t *testing.T) {
	pool, pgURL := schematest.NewDB(t)
	if _, err := pool.Exec(context.Background(), `INSERT INTO projection_checkpoints (view, seq, updated_at) VALUES ('pg', 5, now())`); err != nil {
		t.Fatal(err)
	}
	_, err := cluster.Start(context.Background(), cluster.Config{
		Bin: binDir, Dir: t.TempDir(), PostgresURL: pgURL, RedisURL: redistest.URL(), RedisPrefix: redistest.Prefix(t),
	})
	if err == nil || !strings.Contains(err.Error(), "holds the projection of another log (through fact 5)") {
		t.Fatalf("err = %v, want a refusal", err)
	}
}
