package cachewriter

import (
	"testing"

	"github.com/chillin-chat/chillin/projector/internal/projtest"
)

// BenchmarkApply applies busy chat (~75 % posts, the rest edits, reactions
// and deletes) in runs of 500 facts, one script each, to a generation with
// the default window. It reports facts/s.
func BenchmarkApply(b *testing.B) {
	const n = 20000
	burst, _ := projtest.Burst(b, 0, n)
	facts := stored(burst)
	s := newStore(b, 0)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		g := newGen(b, s)
		b.StartTimer()
		for i := 0; i < len(facts); i += 500 {
			run := facts[i:min(i+500, len(facts))]
			if res, _, err := s.Apply(ctxT(b), g, run[0].ID, run[len(run)-1].ID, run); err != nil || res.Status != Applied {
				b.Fatalf("apply: %+v %v", res, err)
			}
		}
		b.StopTimer()
		if _, err := s.Drop(ctxT(b), g); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "facts/s")
}

// BenchmarkRebuild reads busy chat back from the log and builds a
// generation from it, as chillin-replay rebuild -view redis does. It
// reports facts/s.
func BenchmarkRebuild(b *testing.B) {
	const n = 20000
	burst, _ := projtest.Burst(b, 0, n)
	js := logWith(b, burst)
	s := newStore(b, 0)
	b.ResetTimer()
	for range b.N {
		if _, err := (Rebuild{Store: s, Source: Source{JS: js}}).Run(ctxT(b)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "facts/s")
}
