package e2e

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// proxy is a loopback TCP proxy between the system and one of its servers.
// A test can cut it, to make the server unreachable without stopping it, or
// stall it: what the system sends meanwhile is held, not lost, and reaches
// the server on resume, as with a server that stopped for a while.
type proxy struct {
	target string
	ln     net.Listener
	url    string // the server's URL through the proxy

	mu      sync.Mutex
	open    bool
	conns   []net.Conn
	stalled bool
	resumed *sync.Cond
}

// newProxy proxies the server of a URL.
func newProxy(t *testing.T, serverURL string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: u.Host, ln: ln, open: true}
	p.resumed = sync.NewCond(&p.mu)
	u.Host = ln.Addr().String()
	p.url = u.String()
	t.Cleanup(func() { ln.Close(); p.resume(); p.cut() })
	go p.accept()
	return p
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if !p.open {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { p.copyUp(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close() }()
	}
}

// copyUp copies the system's bytes to the server, holding them while stalled.
func (p *proxy) copyUp(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.stalled {
				p.resumed.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// cut refuses new connections and breaks the open ones.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open = false
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.open = true
	p.mu.Unlock()
}

func (p *proxy) stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
}

func (p *proxy) resume() {
	p.mu.Lock()
	p.stalled = false
	p.mu.Unlock()
	p.resumed.Broadcast()
}
