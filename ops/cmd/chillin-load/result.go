package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"
)

type snapshot struct {
	sent, accepted, delivered, rejected, errors int64
}

func take(clients []*client) snapshot {
	var s snapshot
	for _, c := range clients {
		s.sent += c.sent.Load()
		s.accepted += c.accepted.Load()
		s.delivered += c.delivered.Load()
		s.errors += c.errors.Load()
		c.mu.Lock()
		for _, n := range c.rejected {
			s.rejected += int64(n)
		}
		c.mu.Unlock()
	}
	return s
}

// result is what a run measured.
type result struct {
	Clients         int                `json:"clients"`
	Rooms           int                `json:"rooms"`
	Senders         int                `json:"senders"`
	RatePerSender   float64            `json:"ratePerSender"`
	Seconds         float64            `json:"seconds"`
	Sent            int64              `json:"sent"`
	Accepted        int64              `json:"accepted"`
	AcceptedPerSec  float64            `json:"acceptedPerSec"`
	Delivered       int64              `json:"delivered"`
	DeliveredPerSec float64            `json:"deliveredPerSec"`
	LatencyMs       map[string]float64 `json:"latencyMs"`
	// P99PerSecondMs is the send→deliver p99 of each second of the run, in
	// the order of the progress lines (0 for a second without deliveries):
	// it tells a tail spread over the run from one that a few seconds made.
	P99PerSecondMs      []float64          `json:"p99PerSecondMs,omitempty"`
	DecidedMs           map[string]float64 `json:"decidedMs"`
	Rejected            map[string]int     `json:"rejected"`
	Errors              int64              `json:"errors"`
	GatewayBytesPerConn float64            `json:"gatewayBytesPerConn,omitempty"`
	// GatewayGoBytesPerConn is the growth of the Go heap (after a garbage
	// collection) and goroutine stacks per connection; with -pprof only.
	GatewayGoBytesPerConn float64 `json:"gatewayGoBytesPerConn,omitempty"`
	// CPU spent per delivered frame while sending and draining, in µs: by
	// this tool, and by the processes behind -metrics (for the all-in-one,
	// the whole system).
	LoadCPUPerFrameUs    float64 `json:"loadCpuPerFrameUs,omitempty"`
	GatewayCPUPerFrameUs float64 `json:"gatewayCpuPerFrameUs,omitempty"`
	// LagMs is the projection lag of LagView's facts applied during the run:
	// for each quantile, the upper bound of its histogram bucket.
	LagView string             `json:"lagView,omitempty"`
	LagMs   map[string]float64 `json:"lagMs,omitempty"`
}

// fresh appends to buf the latencies the clients recorded since marks (one
// per client, the length of its latencies at the last call) and moves the
// marks on.
func fresh(clients []*client, marks []int, buf []int64) []int64 {
	for i, c := range clients {
		c.mu.Lock()
		buf = append(buf, c.latencies[marks[i]:]...)
		marks[i] = len(c.latencies)
		c.mu.Unlock()
	}
	return buf
}

func summarize(o options, clients []*client, elapsed time.Duration) *result {
	s := take(clients)
	r := &result{
		Clients: o.Clients, Rooms: o.Rooms, Senders: o.Senders, RatePerSender: o.Rate, Seconds: elapsed.Seconds(),
		Sent: s.sent, Accepted: s.accepted, Delivered: s.delivered, Errors: s.errors,
		Rejected: map[string]int{},
	}
	r.AcceptedPerSec = float64(s.accepted) / elapsed.Seconds()
	r.DeliveredPerSec = float64(s.delivered) / elapsed.Seconds()
	var all, decided []int64
	for _, c := range clients {
		c.mu.Lock()
		all = append(all, c.latencies...)
		decided = append(decided, c.decided...)
		for code, n := range c.rejected {
			r.Rejected[code] += n
		}
		c.mu.Unlock()
	}
	r.LatencyMs, r.DecidedMs = quantiles(all), quantiles(decided)
	return r
}

// quantiles returns p50, p90, p99 and max of µs samples, in ms.
func quantiles(us []int64) map[string]float64 {
	if len(us) == 0 {
		return nil
	}
	slices.Sort(us)
	at := func(q float64) float64 { return float64(us[int(q*float64(len(us)-1))]) / 1000 }
	return map[string]float64{"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1)}
}

func (r *result) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *result) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "clients\t%d (%d rooms, %d senders × %.2f msg/s)\n", r.Clients, r.Rooms, r.Senders, r.RatePerSender)
	fmt.Fprintf(tw, "duration\t%.1fs\n", r.Seconds)
	fmt.Fprintf(tw, "sent\t%d\n", r.Sent)
	fmt.Fprintf(tw, "accepted\t%d (%.0f msg/s)\n", r.Accepted, r.AcceptedPerSec)
	fmt.Fprintf(tw, "delivered\t%d (%.0f deliveries/s)\n", r.Delivered, r.DeliveredPerSec)
	for _, l := range []struct {
		name string
		q    map[string]float64
	}{{"latency send→deliver", r.LatencyMs}, {"  of which send→decided", r.DecidedMs}} {
		if l.q != nil {
			fmt.Fprintf(tw, "%s\tp50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", l.name, l.q["p50"], l.q["p90"], l.q["p99"], l.q["max"])
		}
	}
	codes := make([]string, 0, len(r.Rejected))
	for c := range r.Rejected {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(tw, "rejected %s\t%d\n", c, r.Rejected[c])
	}
	if r.LagMs != nil {
		fmt.Fprintf(tw, "projection lag (%s)\tp50 ≤ %s  p90 ≤ %s  p99 ≤ %s  (%.0f facts)\n", r.LagView,
			lagBound(r.LagMs["p50"]), lagBound(r.LagMs["p90"]), lagBound(r.LagMs["p99"]), r.LagMs["facts"])
	}
	fmt.Fprintf(tw, "errors\t%d\n", r.Errors)
	if r.GatewayBytesPerConn > 0 {
		fmt.Fprintf(tw, "gateway memory\t%.1f KiB per connection (resident set growth)\n", r.GatewayBytesPerConn/1024)
	}
	if r.GatewayGoBytesPerConn > 0 {
		fmt.Fprintf(tw, "gateway Go memory\t%.1f KiB per connection (live heap and stacks)\n", r.GatewayGoBytesPerConn/1024)
	}
	if r.LoadCPUPerFrameUs > 0 {
		fmt.Fprintf(tw, "CPU per delivered frame\tload tool %.1f µs", r.LoadCPUPerFrameUs)
		if r.GatewayCPUPerFrameUs > 0 {
			fmt.Fprintf(tw, ", measured processes %.1f µs", r.GatewayCPUPerFrameUs)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func lagBound(ms float64) string {
	if ms < 0 {
		return "∞"
	}
	return strconv.FormatFloat(ms, 'f', -1, 64) + " ms"
}
