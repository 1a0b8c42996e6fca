package validator

import (
	"encoding/json"
	"fmt"
	"github.com/chillin-chat/chillin/events/opshttp/opshttptest"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	dto "github.com/prometheus/client_model/go"
)

// listen opens a loopback listener on a free port for the ops endpoints.
func listen(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://" + ln.Addr().String()
}

// sample returns the value of the series of family name whose labels include
// labels (name=value pairs); ok is false if there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			if !slices.ContainsFunc(m.Label, func(l *dto.LabelPair) bool {
				return l.GetName() == labels[i] && l.GetValue() == labels[i+1]
			}) {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func TestOpsEndpoints(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")
	ln, base := listen(t)
	cfg := h.config()
	cfg.HTTPListener = ln
	h.start(cfg)

	for i := range 5 {
		h.send(h.message("alice", "lobby", fmt.Sprint("c", i), "hello"))
	}
	h.send(h.message("alice", "lobby", "blank", "   "))
	h.send(h.message("mallory", "lobby", "m1", "not a member"))
	h.waitHead("lobby", 6)
	h.waitRejections("alice", 1)
	h.waitRejections("mallory", 1)
	h.waitSettled()

	if code, b := opshttptest.Get(t, base+"/health"); code != http.StatusOK || !strings.Contains(string(b), `"ok"`) {
		t.Fatalf("/health: %d %s", code, b)
	}
	if code, b := opshttptest.Get(t, base+"/ready"); code != http.StatusOK {
		t.Fatalf("/ready: %d %s", code, b)
	}

	// A pull request's batch is counted when the request ends (within a
	// second of its last command).
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(waitFor)
	for {
		fams = opshttptest.Scrape(t, base)
		if fams["chillin_validator_batch_size"].GetMetric()[0].GetHistogram().GetSampleSum() >= 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pull requests that delivered the commands were never counted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"chillin_validator_commands_accepted_total", []string{"type", events.CmdMessageSend}, 5},
		{"chillin_validator_commands_rejected_total", []string{"code", "EMPTY_MESSAGE"}, 1},
		{"chillin_validator_commands_rejected_total", []string{"code", "NOT_MEMBER"}, 1},
		{"chillin_validator_pipeline_latency_seconds", nil, 7}, // count: every outcome
		{"chillin_validator_redis_errors_total", nil, 0},
		{"chillin_validator_consumer_pending", []string{"consumer", events.ValidatorConsumerName(0)}, 0},
		{"chillin_validator_consumer_ack_pending", []string{"consumer", events.ValidatorConsumerName(events.Partition("lobby"))}, 0},
		{"chillin_validator_consumer_redelivered", []string{"consumer", events.ValidatorConsumerName(7)}, 0},
	} {
		if got, ok := sample(fams, tc.name, tc.labels...); !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	// Seven commands arrived in pull requests of at least one each.
	b := fams["chillin_validator_batch_size"].GetMetric()[0].GetHistogram()
	if b.GetSampleSum() != 7 || b.GetSampleCount() < 1 || b.GetSampleCount() > 7 {
		t.Errorf("batch sizes: %d requests delivering %v commands, want 7 commands", b.GetSampleCount(), b.GetSampleSum())
	}
	// Latencies are non-negative and, for a test on one machine, under the
	// histogram's top bucket.
	l := fams["chillin_validator_pipeline_latency_seconds"].GetMetric()[0].GetHistogram()
	if l.GetSampleSum() < 0 || l.GetBucket()[len(l.GetBucket())-1].GetCumulativeCount() != 7 {
		t.Errorf("latency histogram: %v", l)
	}
	if _, ok := sample(fams, "go_goroutines"); !ok {
		t.Error("no Go runtime series in a registry of the validator's own")
	}
}

func TestReadyNamesWhatIsDown(t *testing.T) {
	h := newHarness(t)
	ln, base := listen(t)
	cfg := h.config()
	cfg.RedisURL = "redis://127.0.0.1:1/0" // nothing listens on port 1
	cfg.HTTPListener = ln
	h.start(cfg)

	deadline := time.Now().Add(waitFor)
	for {
		code, b := opshttptest.Get(t, base+"/ready")
		if code == http.StatusServiceUnavailable {
			var body struct{ Down []string }
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(body.Down, []string{"redis"}) {
				t.Fatalf("/ready names %v down, want [redis]", body.Down)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready answers %d %s with redis unreachable", code, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := opshttptest.Get(t, base+"/health"); code != http.StatusOK {
		t.Fatalf("/health: %d while only redis is away", code)
	}
}
