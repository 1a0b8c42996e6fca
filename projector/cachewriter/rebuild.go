package cachewriter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// DefaultChunk is how many room facts a rebuild reads and applies at a time.
const DefaultChunk = 2000

// maxSwitchTries bounds how often a rebuild catches up and tries to switch
// again because the current generation moved ahead meanwhile.
const maxSwitchTries = 100

// Rebuild builds a new generation from the first fact of the log while
// readers keep using the current one, then makes it current and drops the
// one it replaced:
//
//  1. NewGen: a generation numbered above every other, checkpoint 0.
//  2. Apply the log to it, chunk by chunk, up to the log's head.
//  3. Switch: one script makes it current only if its checkpoint is at or
//     beyond the current generation's (or the current one was built from
//     another log). If the live view got further in the meantime, catch up
//     to the new head and switch again.
//  4. Drop the replaced generation (SCAN and UNLINK in batches).
//
// After the switch the live view applies every fact beyond the new
// checkpoint to the new generation (it reads the current generation in each
// script, and reads from the log any fact it was not handed), so no fact is
// lost between the rebuild and the switch. Rebuild works with the live
// projector running or stopped.
type Rebuild struct {
	Store  *Store
	Source Source
	// Chunk is how many room facts are read and applied at a time
	// (DefaultChunk if 0).
	Chunk int
	// Progress, if set, is told after each chunk how far the build got
	// and where the log's head is (both stream seqs).
	Progress func(done, head uint64)
	// Keep, if set, is called after each chunk; an error stops the
	// rebuild (the cache view uses it to keep its lease).
	Keep func(ctx context.Context) error
	Log  *slog.Logger
}

// Report is what a rebuild did.
type Report struct {
	Gen        uint64        // the new current generation
	Old        uint64        // the generation it replaced (0: none)
	Checkpoint uint64        // the new generation's checkpoint at the switch
	Facts      int           // room facts applied
	Dropped    int           // keys of the old generation deleted
	Took       time.Duration // from start to switch
}

// Run rebuilds. On failure the new generation is dropped again (best
// effort) and the current one stays as it was.
func (b Rebuild) Run(ctx context.Context) (Report, error) {
	start := time.Now()
	chunk := b.Chunk
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	log := b.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	logID, _, err := b.Source.LogID(ctx)
	if err != nil {
		return Report{}, err
	}
	gen, err := b.Store.NewGenOf(ctx, logID)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Gen: gen}
	log.Info("cache rebuild started", "gen", gen, "log", logID)
	fail := func(err error) (Report, error) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, derr := b.Store.Drop(dctx, gen); derr != nil {
			log.Warn("drop the unfinished cache generation", "gen", gen, "err", derr)
		}
		return rep, err
	}

	var cp uint64
	for try := 0; ; try++ {
		head, err := b.Source.Head(ctx)
		if err != nil {
			return fail(err)
		}
		if b.Progress != nil {
			b.Progress(cp, head)
		}
		if cp < head {
			n, err := b.catchUp(ctx, gen, cp, head, chunk, log)
			rep.Facts += n
			if err != nil {
				return fail(err)
			}
			cp = head
		}
		old, err := b.Store.Switch(ctx, gen)
		if errors.Is(err, ErrBehind) && try < maxSwitchTries {
			log.Info("cache rebuild catching up again before the switch", "gen", gen, "checkpoint", cp, "err", err)
			continue
		}
		if err != nil {
			return fail(err)
		}
		rep.Old, rep.Checkpoint, rep.Took = old, cp, time.Since(start)
		break
	}
	log.Info("cache generation switched", "gen", gen, "old", rep.Old, "checkpoint", rep.Checkpoint, "facts", rep.Facts, "took", rep.Took.Round(time.Millisecond))
	if rep.Old != 0 {
		n, err := b.Store.Drop(ctx, rep.Old)
		rep.Dropped = n
		if err != nil {
			return rep, fmt.Errorf("switched to cache generation %d, but dropping generation %d failed (its keys are unused; run the rebuild again or delete them): %w", gen, rep.Old, err)
		}
	}
	return rep, nil
}

// chunk is a run of the log read ahead of its apply.
type chunk struct {
	facts      []events.Stored
	from, upto uint64
	err        error
}

// catchUp applies the log from cp+1 to head to generation gen, reading the
// next chunk while the current one is applied. It returns how many room
// facts it applied.
func (b Rebuild) catchUp(ctx context.Context, gen, cp, head uint64, size int, log *slog.Logger) (int, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan chunk, 2)
	go func() {
		defer close(chunks)
		for next := cp + 1; next <= head; {
			facts, upto, err := b.Source.Read(rctx, next, head, size)
			select {
			case chunks <- chunk{facts: facts, from: next, upto: upto, err: err}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
			next = upto + 1
		}
	}()
	applied := 0
	for c := range chunks {
		if c.err != nil {
			return applied, c.err
		}
		res, skips, err := b.Store.Apply(ctx, gen, c.from, c.upto, c.facts)
		if err != nil {
			return applied, err
		}
		for _, s := range skips {
			log.Error("poison fact skipped", "seq", s.Seq, "type", s.Type, "err", s.Err)
		}
		if res.Status != Applied {
			return applied, fmt.Errorf("cache generation %d: %s at %d: %w", gen, res.Status, c.from-1, ErrLost)
		}
		applied += len(c.facts)
		if b.Progress != nil {
			b.Progress(res.Checkpoint, head)
		}
		if b.Keep != nil {
			if err := b.Keep(ctx); err != nil {
				return applied, err
			}
		}
	}
	return applied, ctx.Err()
}
