// Package opshttptest reads a service's operations endpoints in tests.
package opshttptest

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
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

// Slowloris opens a connection to addr and sends a request's headers one
// byte every interval, for at most within, as a client that holds a server's
// connections open by sending slowly does. It returns how long the server
// let it send before closing the connection; it fails the test if the server
// had not closed it after within.
func Slowloris(tb testing.TB, addr string, interval, within time.Duration) time.Duration {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("slowloris: %v", err)
	}
	defer c.Close()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = io.Copy(io.Discard, c) // returns when the server closes
	}()
	start := time.Now()
	req := []byte("GET /health HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Slow: x\r\n", 1000))
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; time.Since(start) < within; i++ {
		select {
		case <-closed:
			return time.Since(start)
		case <-t.C:
		}
		if _, err := c.Write(req[i%len(req) : i%len(req)+1]); err != nil {
			<-closed
			return time.Since(start)
		}
	}
	tb.Fatalf("slowloris: the server still held the connection after %v", within)
	return 0
}
