package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// getJSON reads a REST answer of the gateway into out; any status but 200 is
// an error naming the path and the answer's error.
func (s *system) getJSON(ctx context.Context, path, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", s.baseURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error any }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("GET %s: %d %v", path, resp.StatusCode, e.Error)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// busyRoom registers n users (user00, user01, …), creates a room named name
// and has each user join it on a socket of its own.
func (s *system) busyRoom(name string, n int) (room string, tokens []string, conns []*client) {
	tokens = make([]string, n)
	for i := range tokens {
		tokens[i] = s.register(fmt.Sprintf("user%02d", i))
	}
	room = s.createRoom(tokens[0], name)
	conns = make([]*client, n)
	for i, tok := range tokens {
		conns[i] = s.dial(tok)
		conns[i].join(room, nil)
	}
	return room, tokens, conns
}

// traffic is clients sending into one room, each a message every 100 ms,
// until stopped.
type traffic struct {
	stop func()
	wg   sync.WaitGroup
	sent [][]string // each client's clientIds, in the order sent
}

// keepSending starts conns sending into room; write failures go to errs.
func keepSending(ctx context.Context, conns []*client, room string, errs chan<- error) *traffic {
	senders, stop := context.WithCancel(ctx)
	tr := &traffic{stop: stop, sent: make([][]string, len(conns))}
	for i, c := range conns {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for n := 0; senders.Err() == nil; n++ {
				cid := fmt.Sprintf("u%02d-%d", i, n)
				if err := c.trySend(room, cid, "live "+cid); err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				tr.sent[i] = append(tr.sent[i], cid)
				select {
				case <-senders.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	return tr
}

// Stop ends the sending and returns how many messages were sent.
func (tr *traffic) Stop() int {
	tr.stop()
	tr.wg.Wait()
	n := 0
	for _, cids := range tr.sent {
		n += len(cids)
	}
	return n
}

// checkAllIn fails t for a client that sent nothing, and for every message
// sent that msgs lacks.
func (tr *traffic) checkAllIn(t *testing.T, msgs []messageData) {
	t.Helper()
	have := map[string]bool{}
	for _, m := range msgs {
		have[m.ClientID] = true
	}
	for i, cids := range tr.sent {
		if len(cids) == 0 {
			t.Errorf("client %d sent nothing", i)
		}
		for _, cid := range cids {
			if !have[cid] {
				t.Errorf("message %s is not in postgres", cid)
			}
		}
	}
}

// reading is readers reading the gateway in a loop until stopped.
type reading struct {
	stop  func()
	wg    sync.WaitGroup
	reads atomic.Int64 // reads that succeeded
}

// keepReading starts a reader per token, each calling read until stopped; a
// failed read (an error, or an answer read rejects) goes to errs.
func keepReading(ctx context.Context, tokens []string, errs chan<- error, read func(ctx context.Context, token string) error) *reading {
	readers, stop := context.WithCancel(ctx)
	rd := &reading{stop: stop}
	for r, tok := range tokens {
		rd.wg.Add(1)
		go func() {
			defer rd.wg.Done()
			for readers.Err() == nil {
				err := read(readers, tok)
				switch {
				case readers.Err() != nil:
					return
				case err != nil:
					errs <- fmt.Errorf("reader %d: %w", r, err)
				default:
					rd.reads.Add(1)
				}
			}
		}()
	}
	return rd
}

// Stop ends the reading and returns how many reads succeeded.
func (rd *reading) Stop() int64 {
	rd.stop()
	rd.wg.Wait()
	return rd.reads.Load()
}
