//go:build !linux

package gateway

import "errors"

// idlePoller needs Linux's epoll; elsewhere an idle socket's reader waits
// in batchConn.awaitInput instead.
type idlePoller struct{}

func newIdlePoller() (*idlePoller, error) {
	return nil, errors.New("idle poller: needs Linux's epoll")
}

func (p *idlePoller) watch(*conn) error { return errors.New("idle poller: needs Linux's epoll") }
func (p *idlePoller) forget(*conn)      {}
func (p *idlePoller) close()            {}
