package validator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chillin-chat/chillin/events"
)

// An instance that dies holding commands it never acked (SIGKILL) leaves
// them to come back only after the consumer's AckWait, while the server
// goes on delivering newer ones to the instance that takes over. The room's
// commands must still be decided in the order they were appended.
func TestTakeoverDecidesAbandonedCommandsFirst(t *testing.T) {
	h := newHarness(t)
	h.createRoom("lobby", "alice", false, "")

	// The dead instance: it takes the partition's pin and its commands,
	// and is never heard of again.
	first := burst(h, "lobby", []string{"alice"}, 5, func(int) {})
	p := events.Partition("lobby")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := h.cmds.CreateOrUpdateConsumer(ctx, events.ValidatorConsumerConfig(p))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(len(first), jetstream.FetchMaxWait(5*time.Second), jetstream.FetchPriorityGroup(events.ValidatorGroup))
	if err != nil {
		t.Fatal(err)
	}
	taken := 0
	for range batch.Messages() {
		taken++
	}
	if taken != len(first) {
		t.Fatalf("the dead instance took %d commands, want %d", taken, len(first))
	}

	// Newer commands arrive; a live instance takes over once the pin of
	// the dead one expires.
	var later []events.Command
	for i := range 5 {
		later = append(later, h.message("alice", "lobby", fmt.Sprint("later-", i), fmt.Sprint("later ", i)))
		h.send(later[i])
	}
	h.start(h.config())
	checkBurst(t, h, "lobby", append(first, later...), 1)

	var order []string
	for _, f := range posted(t, h.roomFacts("lobby")) {
		order = append(order, f.Cmd)
	}
	var want []string
	for _, c := range append(first, later...) {
		want = append(want, c.ID)
	}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("messages in the order\n %v\nwant the order appended\n %v", order, want)
	}
}
