package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The load tool reads two things from the services' /metrics pages: the
// gateways' resident memory (for memory per connection) and the projector's
// fact lag histogram (for projection lag over the run).

// scrape reads and parses one /metrics page.
func scrape(ctx context.Context, c *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return fams, nil
}

// urls splits a comma-separated list; "-" means none.
func urls(list string) []string {
	if list == "" || list == "-" {
		return nil
	}
	return strings.Split(list, ",")
}

// processTotals is what the gateways' processes report about themselves.
type processTotals struct {
	rss        float64 // bytes, summed over the pages
	cpuSeconds float64 // user+system, summed over the pages
	goBytes    float64 // Go heap in use plus goroutine stacks, summed
}

// gatewayProcesses sums process_resident_memory_bytes,
// process_cpu_seconds_total and the Go heap and stacks over the gateways'
// pages. With pprof (the processes' profile URLs, in the same order), each
// process collects its garbage first, so the heap figure is what is live.
func gatewayProcesses(ctx context.Context, c *http.Client, list, pprof string) (processTotals, error) {
	var t processTotals
	pages := urls(list)
	if len(pages) == 0 {
		return t, errors.New("skipped")
	}
	for _, u := range urls(pprof) {
		if err := collectGarbage(ctx, c, u); err != nil {
			return t, err
		}
	}
	for _, u := range pages {
		fams, err := scrape(ctx, c, u)
		if err != nil {
			return t, err
		}
		rss, cpu := fams["process_resident_memory_bytes"], fams["process_cpu_seconds_total"]
		if len(rss.GetMetric()) == 0 || len(cpu.GetMetric()) == 0 {
			return t, fmt.Errorf("%s: no process_resident_memory_bytes or process_cpu_seconds_total", u)
		}
		t.rss += rss.GetMetric()[0].GetGauge().GetValue()
		t.cpuSeconds += cpu.GetMetric()[0].GetCounter().GetValue()
		for _, name := range []string{"go_memstats_heap_alloc_bytes", "go_memstats_stack_inuse_bytes"} {
			if m := fams[name].GetMetric(); len(m) > 0 {
				t.goBytes += m[0].GetGauge().GetValue()
			}
		}
	}
	return t, nil
}

// collectGarbage has a process with net/http/pprof at base run a garbage
// collection (its heap profile does, with gc=1).
func collectGarbage(ctx context.Context, c *http.Client, base string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(base, "/")+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", base, resp.Status)
	}
	return nil
}

// ownCPU is the CPU time this process has used, user+system.
func ownCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// lagHistogram is the cumulative bucket counts of
// chillin_projector_fact_lag_seconds for one view, summed over pages.
type lagHistogram struct {
	bounds []float64 // upper bounds, seconds, ascending; +Inf last
	counts []uint64  // cumulative
}

const lagMetric = "chillin_projector_fact_lag_seconds"

func projectionLag(ctx context.Context, c *http.Client, list, view string) (lagHistogram, error) {
	var h lagHistogram
	pages := urls(list)
	if len(pages) == 0 {
		return h, errors.New("skipped")
	}
	for _, u := range pages {
		fams, err := scrape(ctx, c, u)
		if err != nil {
			return h, err
		}
		for _, m := range fams[lagMetric].GetMetric() {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
				return l.GetName() == "view" && l.GetValue() == view
			}) {
				continue
			}
			hist := m.GetHistogram()
			if h.bounds == nil {
				for _, b := range hist.GetBucket() {
					h.bounds = append(h.bounds, b.GetUpperBound())
				}
				h.bounds = append(h.bounds, math.Inf(1))
				h.counts = make([]uint64, len(h.bounds))
			}
			if len(hist.GetBucket())+1 != len(h.bounds) {
				return h, fmt.Errorf("%s: %s buckets differ between pages", u, lagMetric)
			}
			for i, b := range hist.GetBucket() {
				h.counts[i] += b.GetCumulativeCount()
			}
			h.counts[len(h.counts)-1] += hist.GetSampleCount()
		}
	}
	if h.bounds == nil {
		return h, fmt.Errorf("no %s{view=%q} on %s", lagMetric, view, list)
	}
	return h, nil
}

// lagQuantiles returns, in ms, the upper bound of the bucket holding each
// quantile of the facts applied between before and after: the lag is at most
// that; -1 when it is above the largest bucket. Nil when no fact was applied
// in between.
func lagQuantiles(before, after lagHistogram) map[string]float64 {
	if after.bounds == nil || (before.bounds != nil && len(before.counts) != len(after.counts)) {
		return nil
	}
	diff := slices.Clone(after.counts)
	if before.bounds != nil {
		for i := range diff {
			diff[i] -= before.counts[i]
		}
	}
	total := diff[len(diff)-1]
	if total == 0 {
		return nil
	}
	at := func(q float64) float64 {
		rank := uint64(math.Ceil(q * float64(total)))
		for i, n := range diff {
			if n >= rank {
				if math.IsInf(after.bounds[i], 1) {
					return -1
				}
				return after.bounds[i] * 1000
			}
		}
		return -1
	}
	return map[string]float64{"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "facts": float64(total)}
}

// backlog sums, over the pages, what the services' durable consumers have not
// finished: chillin_*_consumer_pending and chillin_*_consumer_ack_pending.
// Zero means the pipeline has caught up with everything sent so far.
func backlog(ctx context.Context, c *http.Client, list string) (float64, error) {
	var sum float64
	for _, u := range urls(list) {
		fams, err := scrape(ctx, c, u)
		if err != nil {
			return 0, err
		}
		for name, fam := range fams {
			if !strings.HasPrefix(name, "chillin_") ||
				!(strings.HasSuffix(name, "_consumer_pending") || strings.HasSuffix(name, "_consumer_ack_pending")) {
				continue
			}
			for _, m := range fam.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum, nil
}
