package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events/opshttp"
)

// The gateway's server has every timeout: a slow client is closed, and the
// server closes idle connections after nginx does.
func TestHTTPTimeoutsAreSet(t *testing.T) {
	s := opshttp.NewServer(http.NotFoundHandler(), httpTimeouts)
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Fatalf("a timeout is missing: %+v", httpTimeouts)
	}
	if s.IdleTimeout <= time.Minute { // nginx's keepalive_timeout for upstreams
		t.Errorf("idle timeout %v: want longer than nginx keeps an upstream connection (60 s)", s.IdleTimeout)
	}
}
