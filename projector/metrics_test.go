package projector_test

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/chillin-chat/chillin/events/opshttp/opshttptest"
	"github.com/chillin-chat/chillin/events/redistest"
	"github.com/chillin-chat/chillin/projector"
	"github.com/chillin-chat/chillin/projector/internal/projtest"
	"github.com/chillin-chat/chillin/schema/schematest"
)

// series returns the series of family name carrying label=value.
func series(fams map[string]*dto.MetricFamily, name, label, value string) *dto.Metric {
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				return m
			}
		}
	}
	return nil
}

func TestOpsEndpoints(t *testing.T) {
	e := newEnv(t)
	pool, dbURL := schematest.NewDB(t)
	proxied, proxy := viaProxy(t, dbURL)
	prefix := redistest.Prefix(t)
	ch := subscribe(t, prefix)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	e.start(t, projector.Config{PostgresURL: proxied, RedisURL: redistest.URL(), RedisPrefix: prefix,
		Views: []string{projector.ViewPG, projector.ViewLive}, HTTPListener: ln})
	e.waitConsumer(t, "projector-live")
	e.waitConsumer(t, "projector-pg")

	facts := roomBurst(t, "lobby", 1, 20)
	for i := range facts {
		facts[i].At = time.Now() // lag is measured against the facts' own times
	}
	stored := projtest.Publish(t, e.js, facts...)
	last := stored[len(stored)-1].ID
	receive(t, ch, 20)
	waitCheckpoint(t, pool, last)
	e.waitAcked(t, "projector-pg", last)
	e.waitAcked(t, "projector-live", last)

	if code, b := opshttptest.Get(t, base+"/health"); code != http.StatusOK {
		t.Fatalf("/health: %d %s", code, b)
	}
	if code, b := opshttptest.Get(t, base+"/ready"); code != http.StatusOK {
		t.Fatalf("/ready: %d %s", code, b)
	}
	fams := opshttptest.Scrape(t, base)
	for _, view := range []string{projector.ViewPG, projector.ViewLive} {
		if v := series(fams, "chillin_projector_facts_applied_total", "view", view).GetCounter().GetValue(); v != 20 {
			t.Errorf("%s: %v facts applied, want 20", view, v)
		}
		if h := series(fams, "chillin_projector_batch_size", "view", view).GetHistogram(); h.GetSampleSum() != 20 || h.GetSampleCount() < 1 {
			t.Errorf("%s: batches %d holding %v facts, want 20 facts", view, h.GetSampleCount(), h.GetSampleSum())
		}
		// A caught-up view on one machine: between zero and the histogram's
		// top bucket.
		if v := series(fams, "chillin_projector_lag_seconds", "view", view).GetGauge().GetValue(); v < 0 || v > 300 {
			t.Errorf("%s: lag %vs", view, v)
		}
		if h := series(fams, "chillin_projector_fact_lag_seconds", "view", view).GetHistogram(); h.GetSampleCount() != 20 ||
			h.GetBucket()[len(h.GetBucket())-1].GetCumulativeCount() != 20 {
			t.Errorf("%s: fact lag histogram %v", view, h)
		}
		consumer := "projector-" + view
		for _, name := range []string{"chillin_projector_consumer_pending", "chillin_projector_consumer_ack_pending", "chillin_projector_consumer_redelivered"} {
			if m := series(fams, name, "consumer", consumer); m == nil || m.GetGauge().GetValue() != 0 {
				t.Errorf("%s{consumer=%s} = %v, want 0", name, consumer, m)
			}
		}
	}
	if v := series(fams, "chillin_projector_postgres_errors_total", "view", projector.ViewPG).GetCounter().GetValue(); v != 0 {
		t.Errorf("%v postgres errors before any outage", v)
	}

	// Postgres away: /ready names it, and the failed attempts are counted.
	proxy.Cut()
	more := roomBurst(t, "lobby", 21, 5)
	for i := range more {
		more[i].At = time.Now()
	}
	projtest.Publish(t, e.js, more...)
	projtest.Eventually(t, "postgres errors counted", func() bool {
		m := series(opshttptest.Scrape(t, base), "chillin_projector_postgres_errors_total", "view", projector.ViewPG)
		return m.GetCounter().GetValue() > 0
	})
	code, b := opshttptest.Get(t, base+"/ready")
	var body struct{ Down []string }
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || !slices.Equal(body.Down, []string{"postgres"}) {
		t.Fatalf("/ready with postgres away: %d %s", code, b)
	}
	proxy.Restore()
	waitCheckpoint(t, pool, last+5)
	if code, b := opshttptest.Get(t, base+"/ready"); code != http.StatusOK {
		t.Fatalf("/ready after postgres returned: %d %s", code, b)
	}
	fams = opshttptest.Scrape(t, base)
	if v := series(fams, "chillin_projector_redis_errors_total", "view", projector.ViewLive).GetCounter().GetValue(); v != 0 {
		t.Errorf("%v redis errors, though redis never went away", v)
	}
	if v := series(fams, "chillin_projector_facts_applied_total", "view", projector.ViewPG).GetCounter().GetValue(); v != 25 {
		t.Errorf("%v facts applied to postgres, want 25", v)
	}
}
