//go:build !linux

package wsconn

import "errors"

// Poller needs Linux's epoll; elsewhere an idle socket's reader waits
// in batchConn.awaitInput instead.
type Poller struct{}

func NewPoller() (*Poller, error) {
	return nil, errors.New("idle poller: needs Linux's epoll")
}

func (p *Poller) watch(*Conn) error { return errors.New("idle poller: needs Linux's epoll") }
func (p *Poller) forget(*Conn)      {}
func (p *Poller) Close()            {}
