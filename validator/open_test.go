package validator

import (
	"context"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// unansweredJS is a JetStream whose command stream leaves its first
// consumer requests unanswered, as a cluster does while a consumer just
// made has no leader yet.
type unansweredJS struct {
	jetstream.JetStream
	unanswered int
}

func (j *unansweredJS) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	st, err := j.JetStream.Stream(ctx, name)
	if err != nil || name != events.CmdStream {
		return st, err
	}
	return &unansweredStream{Stream: st, js: j}, nil
}

type unansweredStream struct {
	jetstream.Stream
	js *unansweredJS
}

func (s *unansweredStream) CreateOrUpdateConsumer(ctx context.Context, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	if s.js.unanswered > 0 {
		s.js.unanswered--
		return nil, context.DeadlineExceeded
	}
	return s.Stream.CreateOrUpdateConsumer(ctx, cfg)
}

func TestOpenStreamsWaitsForUnansweredConsumers(t *testing.T) {
	js := &unansweredJS{JetStream: natstest.Streams(t), unanswered: 3}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, consumers, err := openStreams(ctx, js, events.StreamOptions{})
	if err != nil {
		t.Fatalf("a validator gave up on consumers not answered yet: %v", err)
	}
	if js.unanswered != 0 {
		t.Fatalf("%d unanswered requests left", js.unanswered)
	}
	for p, c := range consumers.all() {
		if c == nil {
			t.Fatalf("partition %d has no consumer", p)
		}
	}
}
