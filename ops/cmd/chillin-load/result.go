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
	losses                                      int64
}

func take(clients []*client) snapshot {
	var s snapshot
	for _, c := range clients {
		s.sent += c.sent.Load()
		s.accepted += c.accepted.Load()
		s.delivered += c.delivered.Load()
		s.errors += c.errors.Load()
		c.mu.Lock()
		s.losses += c.losses
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

	// Failover. A client whose socket is lost reconnects as the web app
	// does: backoff with jitter (1 s doubling, up to 30 s, 10 attempts), a
	// new login if the session was refused, then room:join with after = the
	// highest room seq it had seen. While it has no joined socket its sends
	// are skipped.
	//
	// Disconnects counts lost sockets; Reconnects those after which the
	// client joined its room again; Relogins the logins they needed; GaveUp
	// the clients that spent every attempt. ReconnectMs is the time from a
	// lost socket to the room joined again (the join's answer), per
	// reconnect: p50, p90, p99, max.
	Disconnects int64              `json:"disconnects"`
	Reconnects  int64              `json:"reconnects"`
	Relogins    int64              `json:"relogins"`
	GaveUp      int64              `json:"gaveUp"`
	ReconnectMs map[string]float64 `json:"reconnectMs,omitempty"`
	// Missed counts (message, client) pairs: a message of this run answered
	// to its sender (the sender received it, live or in a backfill) that a
	// client in its room had not received by the end of the run, after the
	// drain and, when sockets were lost, after every client had rejoined
	// or given up (a minute at most) and the deliveries had settled. A
	// client that gave up, or was still away, misses what followed.
	Missed int64 `json:"missed"`
	// ReceivedTwice counts deliveries of a room seq (of this run's
	// messages) that the client had already received. The protocol owes no
	// repeat here: on one socket each fact comes once, in seq order, and a
	// join with after sends only the facts above it, which the client sets
	// to the highest seq it has seen; so the overlap a join may replay (a
	// client resuming from below what it has seen) never arises, and every
	// repeat is a true duplicate, one a client that shows what it is sent
	// would show twice. Delivered, Accepted and the latencies count the
	// first delivery of each seq only.
	ReceivedTwice int64 `json:"receivedTwice"`
	// PostedTwice counts sends whose clientId came back in a second
	// message (another room seq): the same send stored twice.
	PostedTwice int64 `json:"postedTwice"`
	// Unanswered is sent − accepted − rejected: sends that got no answer
	// (written to a socket that was then lost, the command with it; the
	// web app would resend them). Below zero, some sends were answered
	// twice.
	Unanswered int64 `json:"unanswered"`
	// Snapshots counts rejoins that were too far behind to be replayed
	// (snapshot: true): a client reloads that history over REST, this one
	// counts what it lacks as missed.
	Snapshots int64 `json:"snapshots,omitempty"`
	// GatewayClients is, for each -metrics page in order, the gateway's
	// open WebSockets (chillin_gateway_connections) once every client had
	// joined and at the end of the run; null where the page did not answer
	// (a gateway that died).
	GatewayClients []gatewayClients `json:"gatewayClients,omitempty"`
}

type gatewayClients struct {
	Metrics string   `json:"metrics"`
	Joined  *float64 `json:"joined"`
	End     *float64 `json:"end"`
}

func gatewayClientsOf(pages []string, joined, end []*float64) []gatewayClients {
	var out []gatewayClients
	for i, p := range pages {
		g := gatewayClients{Metrics: p}
		if i < len(joined) {
			g.Joined = joined[i]
		}
		if i < len(end) {
			g.End = end[i]
		}
		if g.Joined != nil || g.End != nil {
			out = append(out, g)
		}
	}
	return out
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
	f := failoverCounts(clients)
	r.Disconnects, r.Reconnects, r.Relogins, r.GaveUp = f.losses, f.reconnects, f.relogins, f.gaveUp
	r.ReconnectMs = quantiles(f.rejoinUs)
	r.Missed, r.ReceivedTwice, r.PostedTwice, r.Snapshots = f.missed, f.twice, f.postedTwice, f.snapshots
	rejected := int64(0)
	for _, n := range r.Rejected {
		rejected += int64(n)
	}
	r.Unanswered = r.Sent - r.Accepted - rejected
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
	if r.Disconnects > 0 {
		fmt.Fprintf(tw, "lost sockets\t%d: %d rejoined (%d logins again), %d clients gave up\n", r.Disconnects, r.Reconnects, r.Relogins, r.GaveUp)
	}
	if q := r.ReconnectMs; q != nil {
		fmt.Fprintf(tw, "time to reconnect\tp50 %.0f ms  p99 %.0f ms  max %.0f ms\n", q["p50"], q["p99"], q["max"])
	}
	fmt.Fprintf(tw, "missed\t%d\n", r.Missed)
	fmt.Fprintf(tw, "received twice\t%d (posted twice %d)\n", r.ReceivedTwice, r.PostedTwice)
	if r.Unanswered != 0 {
		fmt.Fprintf(tw, "sends unanswered\t%d\n", r.Unanswered)
	}
	if r.Snapshots > 0 {
		fmt.Fprintf(tw, "rejoins too far behind\t%d (snapshot)\n", r.Snapshots)
	}
	for _, g := range r.GatewayClients {
		fmt.Fprintf(tw, "gateway clients\t%s joined, %s at the end (%s)\n", gauge(g.Joined), gauge(g.End), g.Metrics)
	}
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

func gauge(v *float64) string {
	if v == nil {
		return "no answer"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

func lagBound(ms float64) string {
	if ms < 0 {
		return "∞"
	}
	return strconv.FormatFloat(ms, 'f', -1, 64) + " ms"
}
