package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProjectionLagQuantiles(t *testing.T) {
	// Two pages (two projector processes), scraped before and after a run.
	page := func(counts *[]uint64) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			c := *counts
			fmt.Fprintln(w, "# TYPE chillin_projector_fact_lag_seconds histogram")
			for i, le := range []string{"0.005", "0.05", "1"} {
				fmt.Fprintf(w, "chillin_projector_fact_lag_seconds_bucket{view=\"pg\",le=%q} %d\n", le, c[i])
				fmt.Fprintf(w, "chillin_projector_fact_lag_seconds_bucket{view=\"live\",le=%q} 999\n", le)
			}
			fmt.Fprintf(w, "chillin_projector_fact_lag_seconds_bucket{view=\"pg\",le=\"+Inf\"} %d\n", c[3])
			fmt.Fprintf(w, "chillin_projector_fact_lag_seconds_bucket{view=\"live\",le=\"+Inf\"} 999\n")
			fmt.Fprintf(w, "chillin_projector_fact_lag_seconds_sum{view=\"pg\"} 1\nchillin_projector_fact_lag_seconds_count{view=\"pg\"} %d\n", c[3])
			fmt.Fprintf(w, "chillin_projector_fact_lag_seconds_sum{view=\"live\"} 1\nchillin_projector_fact_lag_seconds_count{view=\"live\"} 999\n")
		}
	}
	a, b := []uint64{10, 10, 10, 10}, []uint64{0, 0, 0, 0}
	srvA, srvB := httptest.NewServer(page(&a)), httptest.NewServer(page(&b))
	defer srvA.Close()
	defer srvB.Close()
	list := srvA.URL + "," + srvB.URL
	ctx := context.Background()
	before, err := projectionLag(ctx, http.DefaultClient, list, "pg")
	if err != nil {
		t.Fatal(err)
	}
	// During the run: 90 facts under 5 ms, 9 under 50 ms, 1 over a second.
	a = []uint64{10 + 50, 10 + 55, 10 + 55, 10 + 56}
	b = []uint64{40, 44, 44, 44}
	after, err := projectionLag(ctx, http.DefaultClient, list, "pg")
	if err != nil {
		t.Fatal(err)
	}
	q := lagQuantiles(before, after)
	want := map[string]float64{"p50": 5, "p90": 5, "p99": 50, "facts": 100}
	for k, v := range want {
		if math.Abs(q[k]-v) > 1e-9 {
			t.Errorf("%s = %v, want %v (all: %v)", k, q[k], v, q)
		}
	}
	// 2 of 100 above the largest bucket: p99 is unbounded.
	a[3] += 2
	after, _ = projectionLag(ctx, http.DefaultClient, list, "pg")
	if q := lagQuantiles(before, after); q["p99"] != -1 {
		t.Errorf("p99 with 2%% above every bucket: %v, want -1", q["p99"])
	}
	if q := lagQuantiles(after, after); q != nil {
		t.Errorf("no facts in between: %v, want nil", q)
	}
	if _, err := projectionLag(ctx, http.DefaultClient, list, "cache"); err == nil {
		t.Error("a view with no series measured something")
	}
}

func TestBacklog(t *testing.T) {
	pending := map[string]int{"projector-pg": 3, "validator-0": 0}
	page := func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# TYPE chillin_projector_consumer_pending gauge")
		fmt.Fprintf(w, "chillin_projector_consumer_pending{consumer=\"projector-pg\"} %d\n", pending["projector-pg"])
		fmt.Fprintln(w, "# TYPE chillin_validator_consumer_ack_pending gauge")
		fmt.Fprintf(w, "chillin_validator_consumer_ack_pending{consumer=\"validator-0\"} %d\n", pending["validator-0"])
		fmt.Fprintln(w, "# TYPE chillin_projector_consumer_redelivered gauge")
		fmt.Fprintln(w, "chillin_projector_consumer_redelivered{consumer=\"projector-pg\"} 7")
	}
	srvA, srvB := httptest.NewServer(http.HandlerFunc(page)), httptest.NewServer(http.HandlerFunc(page))
	defer srvA.Close()
	defer srvB.Close()
	list := srvA.URL + "," + srvB.URL
	ctx := context.Background()
	for _, tc := range []struct {
		pg, val int
		want    float64
	}{{3, 0, 6}, {0, 2, 4}, {0, 0, 0}} {
		pending["projector-pg"], pending["validator-0"] = tc.pg, tc.val
		if n, err := backlog(ctx, http.DefaultClient, list); err != nil || n != tc.want {
			t.Errorf("pending %d, ack pending %d on two pages: backlog %v (%v), want %v", tc.pg, tc.val, n, err, tc.want)
		}
	}
	if n, err := backlog(ctx, http.DefaultClient, "-"); err != nil || n != 0 {
		t.Errorf("no pages: backlog %v (%v), want 0", n, err)
	}
	srvB.Close()
	if _, err := backlog(ctx, http.DefaultClient, list); err == nil {
		t.Error("a page that does not answer gave no error")
	}
}
