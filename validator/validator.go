package validator

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natsconn"
	"github.com/chillin-chat/chillin/events/opshttp"
	"github.com/chillin-chat/chillin/events/pinned"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/validator/internal/sessions"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// validator is one running instance.
type validator struct {
	cfg  Config
	log  *slog.Logger
	nc   *nats.Conn
	js   jetstream.JetStream
	evt  jetstream.Stream
	cmds jetstream.Stream
	// consumers are the command partitions' consumers.
	consumers *consumerSet
	sessions  *sessions.Directory
	limiter   *ratelimit.Limiter
	media     Media // nil: no storage, attachments are refused
	states    *roomStates
	archive   *archive
	workers   []*worker
	now       func() time.Time
	metrics   *metrics
	acks      *acks
	commit    *committer

	// inFlight holds a token per unsettled command of each partition.
	inFlight [events.CommandPartitions]chan struct{}
	// work ends shutdownGrace after the pull loops could last have stopped:
	// the deadline for settling the commands this instance holds.
	work context.Context
	// pullsDone is closed once no more commands can arrive.
	pullsDone chan struct{}

	// pins holds, per partition, the pin id this instance was given.
	pins [events.CommandPartitions]pinned.Pin
	// queued holds, per partition, the highest stream sequence this
	// instance has handed to its workers. Only the partition's pull loop
	// uses it.
	queued [events.CommandPartitions]uint64

	// read holds, per partition, the stream sequences of commands read at a
	// takeover whose delivery has not come yet: the delivery is acked
	// without deciding or answering the command again.
	readMu sync.Mutex
	read   [events.CommandPartitions]map[uint64]bool

	mu      sync.Mutex
	lastNak map[int]jetstream.Msg // per partition, the last command returned
}

// item is a command of partition p: delivered by its consumer (m), or read
// from the stream at a takeover (read), which is decided but not acked:
// its delivery comes back later and is acked then, as already decided.
type item struct {
	p    int
	m    jetstream.Msg
	read *jetstream.RawStreamMsg
	seq  uint64 // its stream sequence; 0 if its metadata was unreadable
	slot bool   // holds an in-flight slot of p
}

func (it item) data() []byte {
	if it.m == nil {
		return it.read.Data
	}
	return it.m.Data()
}

func (it item) subject() string {
	if it.m == nil {
		return it.read.Subject
	}
	return it.m.Subject()
}

// Run validates commands until ctx ends. It returns nil after a clean
// shutdown and an error if it could not start.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	log := cfg.Logger.With("service", "validator")
	ops, err := opshttp.Open(opshttp.EndpointsConfig{Listener: cfg.HTTPListener, Addr: cfg.HTTPAddr, PprofAddr: cfg.PprofAddr, Registry: cfg.Metrics, Logger: log})
	if err != nil {
		return fmt.Errorf("validator: %w", err)
	}
	defer ops.Close()

	// ctx now also ends when the connection is closed for good.
	natsCtx, nc, err := natsconn.Connect(ctx, cfg.NATSURL, "chillin-validator", log)
	if err != nil {
		return startErr(ctx, fmt.Errorf("validator: %w", err))
	}
	ctx = natsCtx
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("validator: jetstream: %w", err)
	}
	evt, cmds, consumers, err := openStreams(ctx, js, cfg.Streams)
	if err != nil {
		return startErr(ctx, err)
	}
	if cfg.RedisURL == "" {
		log.Warn("no redis configured: each validator instance counts the rate limit on its own")
	}
	limiter, err := ratelimit.New(ratelimit.Config{
		RedisURL: cfg.RedisURL, Prefix: cfg.RedisPrefix, Rules: cfg.rules(), Logger: log,
	})
	if err != nil {
		return fmt.Errorf("validator: %w", err)
	}
	defer limiter.Close()
	dir, err := sessions.Start(ctx, js, evt, cfg.Sessions, log)
	if err != nil {
		return startErr(ctx, fmt.Errorf("validator: %w", err))
	}
	defer dir.Stop()

	unregister := &opshttp.Registrations{Registry: ops.Registry}
	defer unregister.UnregisterAll()
	m, err := newMetrics(unregister.Register, limiter.RedisErrors, consumers.all)
	if err != nil {
		return fmt.Errorf("validator: metrics: %w", err)
	}
	var med Media
	if cfg.Storage.Enabled() {
		sm, closeMedia, err := openMedia(ctx, cfg)
		if err != nil {
			return err
		}
		defer closeMedia()
		med = sm
		go sm.sweepDeleted(ctx, js, evt, log)
	}
	ops.Serve(probes(nc, cfg.RedisURL != "", limiter, med))

	logID := evt.CachedInfo().Created.UTC().Format(time.RFC3339Nano)
	states := &roomStates{nc: nc, js: js, maxBytes: int64(cfg.RoomSnapshotBytes), log: logID,
		window: cfg.RoomMessages, digests: cfg.RoomDigests, logger: log, saved: m.snapshots}
	if err := states.ensure(ctx); err != nil {
		log.Warn("room states will be folded from the log", "err", err)
	}
	arch, err := openArchive(cfg.PostgresURL, logID, log, unregister.Register)
	if err != nil {
		return err
	}
	defer arch.close()
	v := &validator{
		archive: arch, cfg: cfg, log: log, nc: nc, js: js, evt: evt, cmds: cmds, consumers: consumers, sessions: dir, limiter: limiter, media: med, now: time.Now, metrics: m,
		pullsDone: make(chan struct{}), lastNak: map[int]jetstream.Msg{},
		states: states, acks: &acks{log: log, quiet: ackQuiet}, commit: newCommitter(nc, js, m.commitBatch, m.commitTime, minAtomic(cfg.DeferredSync)),
	}
	for p := range v.inFlight {
		v.inFlight[p] = make(chan struct{}, maxInFlight)
	}
	workers, stopWork := v.startWorkers(ctx)
	defer stopWork()
	pulls := v.startPulls(ctx)
	log.Info("validator started", "partitions", events.CommandPartitions, "workers", cfg.Workers,
		"rate_limits", limiter.Rules().String(), "max_message_runes", cfg.MaxTextRunes,
		"room_cache_bytes", cfg.RoomCacheBytes, "room_messages", cfg.RoomMessages, "room_digests", cfg.RoomDigests, "postgres", cfg.PostgresURL != "", "sessions", cfg.Sessions,
		"media_storage", cfg.Storage.Enabled())

	<-ctx.Done()
	pulls.Wait()
	v.shutdown(cmds, consumers.all(), workers)
	log.Info("validator stopped")
	return natsconn.Lost(ctx)
}

// openStreams makes sure of the streams and returns the log, the command
// stream and the command partitions' consumers.
func openStreams(ctx context.Context, js jetstream.JetStream, o events.StreamOptions) (evt, cmds jetstream.Stream, consumers *consumerSet, err error) {
	if err := events.EnsureStreams(ctx, js, o); err != nil {
		return nil, nil, nil, fmt.Errorf("validator: %w", err)
	}
	// On a cluster, streams and consumers just made may have no leader
	// yet: each step waits while JetStream does not answer.
	stream := func(name string) func(context.Context) (jetstream.Stream, error) {
		return func(ctx context.Context) (jetstream.Stream, error) { return js.Stream(ctx, name) }
	}
	if evt, err = events.UntilAnswered(ctx, stream(events.EvtStream)); err != nil {
		return nil, nil, nil, fmt.Errorf("validator: stream %s: %w", events.EvtStream, err)
	}
	if cmds, err = events.UntilAnswered(ctx, stream(events.CmdStream)); err != nil {
		return nil, nil, nil, fmt.Errorf("validator: stream %s: %w", events.CmdStream, err)
	}
	consumers = &consumerSet{c: make([]jetstream.Consumer, events.CommandPartitions)}
	for p := range consumers.c {
		consumers.c[p], err = events.UntilAnswered(ctx, func(ctx context.Context) (jetstream.Consumer, error) {
			return cmds.CreateOrUpdateConsumer(ctx, events.ValidatorConsumerConfig(p))
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("validator: consumer of partition %d: %w", p, err)
		}
	}
	return evt, cmds, consumers, nil
}

// probes are what /ready checks: NATS, and Redis and the media storage
// where configured.
func probes(nc *nats.Conn, redis bool, limiter *ratelimit.Limiter, med Media) []opshttp.Probe {
	ps := []opshttp.Probe{opshttp.NATS(nc)}
	if redis {
		ps = append(ps, opshttp.Probe{Name: "redis", Check: limiter.Ping})
	}
	if med != nil {
		ps = append(ps, opshttp.Probe{Name: "storage", Check: med.Ping})
	}
	return ps
}

// startWorkers starts the committer and the workers. The workers outlive
// ctx, so that the commands this instance holds can be settled before it
// lets go of its partitions, but by pullWait+shutdownGrace at most; the
// committer outlives the workers, which wait on it. stop ends both.
func (v *validator) startWorkers(ctx context.Context) (workers *sync.WaitGroup, stop func()) {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	stopDeadline := context.AfterFunc(ctx, func() { time.AfterFunc(pullWait+shutdownGrace, cancelWork) })
	v.work = work
	commitCtx, stopCommit := context.WithCancel(context.WithoutCancel(ctx))
	var committing sync.WaitGroup
	committing.Go(func() { v.commit.run(commitCtx) })
	workers = &sync.WaitGroup{}
	v.workers = make([]*worker, v.cfg.Workers)
	for i := range v.workers {
		w := &worker{v: v, q: make(chan item, queueLen), rooms: newRoomCache(max(v.cfg.RoomCacheBytes/v.cfg.Workers, 1), v.states.save)}
		v.workers[i] = w
		workers.Go(func() { w.run(work) })
	}
	return workers, func() {
		stopCommit()
		committing.Wait()
		stopDeadline()
		cancelWork()
	}
}

// startPulls starts one pull loop per partition. A loop stops asking for
// commands when ctx ends and returns once its last request is over, so
// nothing can be in flight to this instance when it lets go of the
// partition.
func (v *validator) startPulls(ctx context.Context) *sync.WaitGroup {
	var pulls sync.WaitGroup
	for p, cons := range v.consumers.all() {
		pulls.Go(func() { v.pull(ctx, p, cons) })
	}
	return &pulls
}

// startErr reports a start-up failure, unless it was caused by ctx ending,
// which is a shutdown like any other.
func startErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// shutdown runs once the pull loops have stopped: it lets the workers settle
// the commands this instance holds (for at most shutdownGrace; what is left
// then is returned), sends the ack still held, and unpins this instance's
// partitions, so the next instance starts exactly where this one stopped.
//
// Settling rather than returning (NAK) is deliberate: the server redelivers
// returned commands in an order of its own, not stream order, which would
// let a standby decide a room's commands out of order.
func (v *validator) shutdown(cmds jetstream.Stream, consumers []jetstream.Consumer, wg *sync.WaitGroup) {
	close(v.pullsDone)
	wg.Wait()
	v.acks.flush()

	// Returns (NAKs) are processed by the server in the order they arrive,
	// one queue per consumer: once it has answered a synchronous NAK sent
	// after them, it has taken every command returned before, and unpinning
	// cannot overtake them.
	v.mu.Lock()
	last := v.lastNak
	v.lastNak = map[int]jetstream.Msg{}
	v.mu.Unlock()
	for p, m := range last {
		if _, err := v.nc.Request(m.Reply(), []byte("-NAK"), time.Second); err != nil {
			v.log.Warn("returned commands may be redelivered late", "partition", p, "err", err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for p, cons := range consumers {
		if err := pinned.Unpin(ctx, cmds, cons, events.ValidatorGroup, v.pins[p].ID()); err != nil {
			v.log.Warn("unpin", "partition", p, "err", err)
		}
	}
	if err := v.nc.FlushTimeout(time.Second); err != nil {
		v.log.Warn("flush on shutdown", "err", err)
	}
}
