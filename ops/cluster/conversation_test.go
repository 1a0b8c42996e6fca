package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/chillin-chat/chillin/events/opshttp/opshttptest"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/chillin-chat/chillin/events"
)

// A user on gateway 1 and a user on gateway 2 talk through nginx, and every
// process's /metrics tells the story with sane values.
func TestConversationThroughNginx(t *testing.T) {
	s := start(t, nil)
	alice, bob := register(t, s.URL, "alice"), register(t, s.URL, "bob")
	room := createRoom(t, s.URL, alice, "across")

	ca := s.dialOn(0, "alice", alice)
	cb := s.dialOn(1, "bob", bob)
	ca.join(room, nil)
	cb.join(room, nil)
	if ev := ca.event(); ev.Kind != events.MemberJoined || ev.User != "bob" {
		t.Fatalf("alice saw %+v, want bob joining", ev)
	}

	ca.send(room, "a1", "hello from gateway 1")
	cb.send(room, "b1", "hello from gateway 2")
	for _, c := range []*client{ca, cb} {
		got := map[string]string{}
		for range 2 {
			m := c.posted()
			got[m.ClientID] = m.User + ": " + m.Text
		}
		if got["a1"] != "alice: hello from gateway 1" || got["b1"] != "bob: hello from gateway 2" {
			t.Fatalf("%s saw %v", c.name, got)
		}
	}
	// One refusal, for the rejected-by-code series.
	ca.send(room, "a-blank", "   ")
	if f := ca.next(15 * time.Second); f.Type != "rejected" {
		t.Fatalf("alice got %s %s, want rejected", f.Type, f.Data)
	} else {
		var r struct{ Code string }
		_ = json.Unmarshal(f.Data, &r)
		if r.Code != "EMPTY_MESSAGE" {
			t.Fatalf("rejected with %s", r.Code)
		}
	}
	eventually(t, 30*time.Second, "both messages in postgres", func() bool {
		n, distinct, _ := s.pgMessages(room)
		return n == 2 && distinct == 2
	})

	// Readiness of every process.
	for _, p := range s.Procs() {
		if slices.Contains(s.NATS, p) || p == s.Nginx {
			continue
		}
		if code := get(t, "http://"+p.Addr+"/ready"); code != http.StatusOK {
			t.Errorf("%s /ready: %d", p.Name, code)
		}
		if code := get(t, "http://"+p.Addr+"/health"); code != http.StatusOK {
			t.Errorf("%s /health: %d", p.Name, code)
		}
		if code := get(t, "http://"+p.Pprof+"/debug/pprof/cmdline"); p.Pprof == "" || code != http.StatusOK {
			t.Errorf("%s profiles at %q: %d", p.Name, p.Pprof, code)
		}
		if code := get(t, "http://"+p.Addr+"/debug/pprof/cmdline"); code == http.StatusOK {
			t.Errorf("%s serves profiles on its main address", p.Name)
		}
	}
	if code := get(t, s.URL+"/health"); code != http.StatusOK {
		t.Errorf("nginx → /health: %d", code)
	}

	checkMetrics(t, s, room)
}

func checkMetrics(t *testing.T, s *system, room string) {
	t.Helper()
	// Gateways: one socket each, frames both ways.
	for i, g := range s.Gateways {
		m := opshttptest.Scrape(t, "http://"+g.Addr)
		if v := value(m, "chillin_gateway_connections"); v != 1 {
			t.Errorf("%s holds %v sockets, want 1", g.Name, v)
		}
		if value(m, "chillin_gateway_postgres_errors_total")+value(m, "chillin_gateway_redis_errors_total") != 0 {
			t.Errorf("%s counted store errors: pg %v redis %v", g.Name, value(m, "chillin_gateway_postgres_errors_total"), value(m, "chillin_gateway_redis_errors_total"))
		}
		if value(m, "chillin_gateway_frames_in_total", "type", "message:send") < 1 || value(m, "chillin_gateway_frames_out_total") < 3 {
			t.Errorf("gateway %d frames: in %v, out %v", i+1, value(m, "chillin_gateway_frames_in_total"), value(m, "chillin_gateway_frames_out_total"))
		}
	}

	// Validators: the two instances together decided each command once.
	var accepted, rejected, latencies float64
	for _, v := range s.Validators {
		m := opshttptest.Scrape(t, "http://"+v.Addr)
		accepted += value(m, "chillin_validator_commands_accepted_total", "type", events.CmdMessageSend)
		rejected += value(m, "chillin_validator_commands_rejected_total", "code", "EMPTY_MESSAGE")
		latencies += value(m, "chillin_validator_pipeline_latency_seconds")
		for p := range events.CommandPartitions {
			name := events.ValidatorConsumerName(p)
			if _, ok := series(m, "chillin_validator_consumer_pending", "consumer", name); !ok {
				t.Errorf("%s reports no pending count for %s", v.Name, name)
			}
		}
		if value(m, "chillin_validator_redis_errors_total") != 0 {
			t.Errorf("%s counted redis errors", v.Name)
		}
		if lat := m["chillin_validator_pipeline_latency_seconds"].GetMetric()[0].GetHistogram(); lat.GetSampleSum() < 0 {
			t.Errorf("%s: negative latencies", v.Name)
		}
	}
	if accepted != 2 || rejected != 1 {
		t.Errorf("validators accepted %v messages and refused %v blank ones, want 2 and 1", accepted, rejected)
	}
	var allAccepted float64
	for _, v := range s.Validators {
		allAccepted += sumOf(opshttptest.Scrape(t, "http://"+v.Addr), "chillin_validator_commands_accepted_total")
	}
	if latencies != allAccepted+rejected {
		t.Errorf("%v latencies observed for %v accepted and %v refused commands", latencies, allAccepted, rejected)
	}
	// Pull requests are counted when they end: every decided command was
	// delivered in one of them.
	eventually(t, 10*time.Second, "the validators' batches counted", func() bool {
		batched := 0.0
		for _, v := range s.Validators {
			batched += sumOf(opshttptest.Scrape(t, "http://"+v.Addr), "chillin_validator_batch_size")
		}
		return batched >= allAccepted+rejected
	})

	// Projectors: of the two, the pinned one applied every fact of the log
	// to Postgres, exactly once between them.
	last := lastSeq(t, s.NATSURL)
	eventually(t, 30*time.Second, "every fact applied to postgres once", func() bool {
		var applied float64
		for _, p := range s.Projectors {
			applied += value(opshttptest.Scrape(t, "http://"+p.Addr), "chillin_projector_facts_applied_total", "view", "pg")
		}
		return applied == float64(last)
	})
	for _, p := range s.Projectors {
		m := opshttptest.Scrape(t, "http://"+p.Addr)
		for _, view := range []string{"pg", "live"} {
			applied := value(m, "chillin_projector_facts_applied_total", "view", view)
			if applied == 0 {
				continue // the standby
			}
			if lag := value(m, "chillin_projector_lag_seconds", "view", view); lag < 0 || lag > 60 {
				t.Errorf("%s %s lag %vs", p.Name, view, lag)
			}
			if h, _ := series(m, "chillin_projector_batch_size", "view", view); h.GetHistogram().GetSampleSum() != applied {
				t.Errorf("%s %s: batches hold %v facts, %v applied", p.Name, view, h.GetHistogram().GetSampleSum(), applied)
			}
			if n := value(m, "chillin_projector_fact_lag_seconds", "view", view); n != applied {
				t.Errorf("%s %s: %v lags observed for %v facts", p.Name, view, n, applied)
			}
		}
		for _, name := range []string{"projector-pg", "projector-live"} {
			if _, ok := series(m, "chillin_projector_consumer_pending", "consumer", name); !ok {
				t.Errorf("%s reports no pending count for %s", p.Name, name)
			}
		}
		if value(m, "chillin_projector_postgres_errors_total")+value(m, "chillin_projector_redis_errors_total") != 0 {
			t.Errorf("%s counted store errors", p.Name)
		}
	}
}

// sumOf sums a histogram family's observed values (sample sums).
func sumOf(fams map[string]*dto.MetricFamily, name string) float64 {
	var sum float64
	for _, m := range fams[name].GetMetric() {
		switch {
		case m.Histogram != nil:
			sum += m.Histogram.GetSampleSum()
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		}
	}
	return sum
}

// lastSeq is CHAT_EVT's last stream sequence.
func lastSeq(t *testing.T, url string) uint64 {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(fmt.Errorf("stream info: %w", err))
	}
	return info.State.LastSeq
}
