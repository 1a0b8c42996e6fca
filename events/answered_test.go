package events

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestUntilAnswered(t *testing.T) {
	refused := errors.New("refused")
	cases := []struct {
		name      string
		errs      []error // the tries' errors in turn; nil ends
		wantTries int
		wantErr   error
	}{
		{name: "answered at once", errs: []error{nil}, wantTries: 1},
		{name: "waits while not answered", errs: []error{context.DeadlineExceeded, nats.ErrNoResponders, nats.ErrTimeout, nil}, wantTries: 4},
		{name: "a refusal ends it", errs: []error{context.DeadlineExceeded, refused, nil}, wantTries: 2, wantErr: refused},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tries := 0
			v, err := UntilAnswered(context.Background(), func(ctx context.Context) (int, error) {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("a try without a deadline")
				}
				err := c.errs[tries]
				tries++
				return tries, err
			})
			if tries != c.wantTries || !errors.Is(err, c.wantErr) {
				t.Fatalf("%d tries, %v; want %d tries, %v", tries, err, c.wantTries, c.wantErr)
			}
			if err == nil && v != tries {
				t.Fatalf("value %d, want the last try's %d", v, tries)
			}
		})
	}
	t.Run("the caller's end ends it", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := UntilAnswered(ctx, func(ctx context.Context) (int, error) { return 0, nats.ErrNoResponders })
		if !errors.Is(err, nats.ErrNoResponders) || ctx.Err() == nil {
			t.Fatalf("err %v, ctx %v", err, ctx.Err())
		}
	})
}
