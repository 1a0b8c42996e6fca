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
