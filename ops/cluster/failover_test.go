package cluster_test

import (
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Stopping a gateway moves its clients to the other one with nothing
// missed: a client whose socket is lost reconnects through nginx and joins
// with `after` = the last seq it saw. SIGTERM is a graceful stop (sockets
// closed with 1001, the process exits 0 within its bound); SIGKILL is not.
func TestGatewayStopMovesClients(t *testing.T) {
	s := start(t, map[string]string{"CHILLIN_RATE_LIMIT": "1000"})
	owner := register(t, s.URL, "owner")
	room := createRoom(t, s.URL, owner, "failover")
	// Everyone registers up front: while a gateway is down or just back,
	// nginx may have no gateway to offer a request for a few seconds (see
	// dialOn), and a client would simply try again.
	tokens := map[string]string{}
	for _, u := range []string{"moved0", "stayed0", "late0", "moved1", "stayed1", "late1"} {
		tokens[u] = register(t, s.URL, u)
	}

	for _, tc := range []struct {
		name    string
		victim  int // the gateway stopped
		sig     syscall.Signal
		closeIs websocket.StatusCode // how the victim's socket ends; -1: no close frame
	}{
		{name: "SIGTERM", victim: 0, sig: syscall.SIGTERM, closeIs: websocket.StatusGoingAway},
		{name: "SIGKILL", victim: 1, sig: syscall.SIGKILL, closeIs: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := 1 - tc.victim
			gw := s.Gateways[tc.victim]
			u, v := "moved"+fmt.Sprint(tc.victim), "stayed"+fmt.Sprint(tc.victim)
			cu := s.dialOn(tc.victim, u, tokens[u])
			cv := s.dialOn(other, v, tokens[v])
			cu.join(room, nil)
			cv.join(room, nil)
			for cu.last[room] < cv.last[room] {
				cu.event() // v joining
			}
			cv.send(room, "hello", "before the stop")
			if m := cu.posted(); m.ClientID != "hello" {
				t.Fatalf("%s got %+v", u, m)
			}
			cv.posted()

			if err := gw.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err := cu.waitClosed(15 * time.Second)
			if got := websocket.CloseStatus(err); got != tc.closeIs {
				t.Fatalf("%s's socket ended with %v (status %d), want %d", u, err, got, tc.closeIs)
			}
			state, werr := gw.Wait(20 * time.Second)
			if werr != nil {
				t.Fatalf("%s after %s: %v", gw.Name, tc.name, werr)
			}
			if tc.sig == syscall.SIGTERM && !state.Success() {
				t.Fatalf("%s did not stop cleanly on SIGTERM: %s", gw.Name, state)
			}

			// While u is away, v keeps talking.
			var sent []string
			for i := range 20 {
				id := fmt.Sprint(tc.name, "-", i)
				cv.send(room, id, "while you were away "+id)
				sent = append(sent, id)
			}
			for range sent {
				cv.posted()
			}

			hosted := s.connections(other)
			missed := cu.reconnect(room)[room]
			var got []string
			for _, ev := range missed {
				var m message
				if ev.Kind == "message.posted" {
					_ = json.Unmarshal(ev.Data, &m)
					got = append(got, m.ClientID)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(sent) || len(missed) != len(sent) {
				t.Fatalf("%s missed %v (%d facts), want exactly %v", u, got, len(missed), sent)
			}
			// u now talks through the other gateway, live both ways.
			if n := s.connections(other); n != hosted+1 {
				t.Fatalf("%s holds %v sockets after %s reconnected, want %v", s.Gateways[other].Name, n, u, hosted+1)
			}
			cu.send(room, "back", "back again")
			if m := cv.posted(); m.ClientID != "back" {
				t.Fatalf("%s got %+v", v, m)
			}
			if m := cu.posted(); m.ClientID != "back" {
				t.Fatalf("%s got %+v", u, m)
			}
			cv.send(room, "welcome", "welcome back")
			if m := cu.posted(); m.ClientID != "welcome" {
				t.Fatalf("%s got %+v", u, m)
			}
			cv.posted()

			// The stopped gateway comes back, and new clients reach it again.
			if err := gw.Start(); err != nil {
				t.Fatal(err)
			}
			if err := s.WaitReady(t.Context(), gw); err != nil {
				t.Fatal(err)
			}
			late := "late" + fmt.Sprint(tc.victim)
			cl := s.dialOn(tc.victim, late, tokens[late])
			after := cu.last[room]
			if _, evs := cl.join(room, &after); len(evs) != 1 || evs[0].User != late {
				t.Fatalf("%s joining after %d saw %+v, want only itself joining", late, after, evs)
			}
		})
	}
}
