// Package opshttptest reads a service's operations endpoints in tests.
package opshttptest

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Get fetches url and returns its status and body.
func Get(tb testing.TB, url string) (int, []byte) {
	tb.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, b
}

// Scrape reads base+"/metrics" in the Prometheus text format.
func Scrape(tb testing.TB, base string) map[string]*dto.MetricFamily {
	tb.Helper()
	code, b := Get(tb, base+"/metrics")
	if code != http.StatusOK {
		tb.Fatalf("%s/metrics: %d", base, code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("parse %s/metrics: %v", base, err)
	}
	return fams
}
