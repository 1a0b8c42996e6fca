package validator

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natsconn"
	"github.com/chillin-chat/chillin/events/objstore"
	"github.com/chillin-chat/chillin/events/opshttp"
	"github.com/chillin-chat/chillin/events/pinned"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/validator/internal/decide"
	"github.com/chillin-chat/chillin/validator/internal/sessions"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultRateLimit    = 10
	DefaultRateWindow   = 10 * time.Second
	DefaultMaxTextRunes = decide.DefaultMaxTextRunes
	// DefaultWorkers is the default of Config.Workers. A worker decides one
	// command at a time and waits for its fact to be written, a group
	// commit of a few milliseconds when every write is synced: enough
	// workers that a busy room rarely shares one keep a slow room from
	// holding up others, and make the groups larger. An idle worker is a
	// parked goroutine.
	DefaultWorkers = 512
	// DefaultRoomCacheBytes is the default of Config.RoomCacheBytes.
	DefaultRoomCacheBytes = 100 << 20
	// DefaultRoomMessages is the default of Config.RoomMessages.
	DefaultRoomMessages = decide.DefaultMessageWindow
	// DefaultSessions is the default of Config.Sessions.
	DefaultSessions = sessions.DefaultSize
)

const (
	// maxInFlight bounds, per partition, the commands this instance holds
	// without having settled them. It bounds what a stopping instance must
	// finish before it hands the partition over.
	maxInFlight = 256
	// queueLen bounds each worker's queue of commands awaiting a decision.
	queueLen = 512
	// pullWait is how long one pull request waits at the server. It must be
	// well below the consumers' pinned TTL (5 s): a pinned instance keeps its
	// pin only while it keeps asking for more. It also bounds how long a
	// stopping instance waits for its last request to end.
	pullWait = time.Second
	// pullBatch is how many commands one pull request asks for.
	pullBatch = 64
	// publishTimeout bounds one append and one read of the log.
	publishTimeout = 5 * time.Second
	// shutdownGrace is how long a stopping instance may take to settle the
	// commands it holds once it stopped pulling. With pullWait it stays below
	// the pinned TTL, so that no other instance takes a partition over while
	// its commands are being settled.
	shutdownGrace = 2 * time.Second
)

// Config configures Run.
type Config struct {
	// NATSURL is the NATS server (or comma-separated servers) to use.
	NATSURL string
	// RedisURL is the Redis shared by the instances for the rate limit. Empty
	// means each instance counts on its own.
	RedisURL string
	// RedisPrefix is prepended to every Redis key, e.g. "chillin:".
	RedisPrefix string
	// RateLimit messages per user are accepted in any sliding RateWindow.
	RateLimit  int
	RateWindow time.Duration
	// RateLimits are the limits of the other command kinds (edits, deletes,
	// reactions, joins and leaves), per user; a kind without a rule is not
	// limited. Nil means ratelimit.DefaultRules. Its message rule, if any,
	// is replaced by RateLimit per RateWindow.
	RateLimits ratelimit.Rules
	// MaxTextRunes bounds a message's length in code points.
	MaxTextRunes int
	// Workers is how many rooms are decided at once.
	Workers int
	// DeferredSync says the NATS servers acknowledge writes before they
	// sync them (CHILLIN_UNSAFE_DEFERRED_SYNC). Facts are then published one
	// by one: atomic batches only pay where every write is synced.
	DeferredSync bool
	// RoomCacheBytes bounds the room states this instance holds, all workers
	// together, in estimated bytes: the least recently used rooms are
	// evicted and read from the log again on their next command. Each
	// worker has its share, and keeps the room it is deciding even alone
	// over it: a worker holds at least one room (with RoomMessages, about
	// 1 MB at most).
	RoomCacheBytes int
	// RoomSnapshotBytes bounds CHAT_ROOMSTATE, the snapshots of evicted
	// room states that spare a reload most of the log (roomstates.go), in
	// the NATS servers' memory. 0 means DefaultRoomSnapshotBytes; < 0 keeps
	// no snapshots.
	RoomSnapshotBytes int
	// RoomMessages is how many of its most recent messages a room state
	// keeps; a command naming an older one reads it from the log.
	RoomMessages int
	// Sessions bounds the sessions the session directory holds; the least
	// recently used are evicted and read from the log again when named.
	Sessions int
	// Streams tunes the streams this instance ensures at start-up.
	Streams events.StreamOptions
	// Storage is the media storage holding attachments (CHILLIN_S3_*).
	// Without it, messages with attachments are refused. With it, RedisURL
	// is required: the gateway's upload records live there.
	Storage objstore.Config
	// HTTPAddr, if set, is where /health, /ready and /metrics are served
	// (the validator binary's default is 127.0.0.1:9101). HTTPListener, if
	// set, is used instead. With neither, nothing is served.
	HTTPAddr     string
	HTTPListener net.Listener
	// PprofAddr, if set, is where the Go runtime's profiles are served
	// (/debug/pprof/), apart from the other endpoints.
	PprofAddr string
	// Metrics receives this instance's series (removed again when Run
	// returns) and is what /metrics serves. Nil: a registry of its own, with
	// the Go runtime and process series too.
	Metrics *prometheus.Registry
	Logger  *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateWindow == 0 {
		c.RateWindow = DefaultRateWindow
	}
	if c.RateLimits == nil {
		c.RateLimits = ratelimit.DefaultRules()
	}
	if c.MaxTextRunes == 0 {
		c.MaxTextRunes = DefaultMaxTextRunes
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.RoomCacheBytes == 0 {
		c.RoomCacheBytes = DefaultRoomCacheBytes
	}
	if c.RoomMessages == 0 {
		c.RoomMessages = DefaultRoomMessages
	}
	if c.RoomSnapshotBytes == 0 {
		c.RoomSnapshotBytes = DefaultRoomSnapshotBytes
	}
	if c.Sessions == 0 {
		c.Sessions = DefaultSessions
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// rules are the limiter's rules: RateLimits with the message rule of
// RateLimit and RateWindow.
func (c Config) rules() ratelimit.Rules {
	rs := ratelimit.Rules{}
	for k, r := range c.RateLimits {
		rs[k] = r
	}
	rs[ratelimit.Message] = ratelimit.Rule{Limit: c.RateLimit, Window: c.RateWindow}
	return rs
}

func (c Config) validate() error {
	switch {
	case c.NATSURL == "":
		return errors.New("validator: no NATS URL")
	case c.RateLimit < 1:
		return fmt.Errorf("validator: rate limit %d must be at least 1", c.RateLimit)
	case c.RateWindow < time.Millisecond:
		return fmt.Errorf("validator: rate window %v must be at least 1ms", c.RateWindow)
	case c.RateLimits.Validate() != nil:
		return fmt.Errorf("validator: %w", c.RateLimits.Validate())
	case c.MaxTextRunes < 1:
		return fmt.Errorf("validator: max message length %d must be at least 1", c.MaxTextRunes)
	case c.Workers < 1:
		return fmt.Errorf("validator: workers %d must be at least 1", c.Workers)
	case c.RoomCacheBytes < 1:
		return fmt.Errorf("validator: room cache of %d bytes must be at least 1", c.RoomCacheBytes)
	case c.RoomMessages < 1:
		return fmt.Errorf("validator: %d messages kept per room must be at least 1", c.RoomMessages)
	case c.Sessions < 1:
		return fmt.Errorf("validator: %d sessions held must be at least 1", c.Sessions)
	case c.Storage.Enabled() && c.RedisURL == "":
		return errors.New("validator: media storage needs Redis, where the gateway keeps the upload records")
	}
	if c.Storage.Enabled() {
		if err := c.Storage.Validate(); err != nil {
			return fmt.Errorf("validator: %w", err)
		}
	}
	return nil
}

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
	if err := events.EnsureStreams(ctx, js, cfg.Streams); err != nil {
		return startErr(ctx, fmt.Errorf("validator: %w", err))
	}
	evt, err := js.Stream(ctx, events.EvtStream)
	if err != nil {
		return startErr(ctx, fmt.Errorf("validator: stream %s: %w", events.EvtStream, err))
	}
	cmds, err := js.Stream(ctx, events.CmdStream)
	if err != nil {
		return startErr(ctx, fmt.Errorf("validator: stream %s: %w", events.CmdStream, err))
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
	consumers := &consumerSet{c: make([]jetstream.Consumer, events.CommandPartitions)}
	for p := range consumers.c {
		if consumers.c[p], err = cmds.CreateOrUpdateConsumer(ctx, events.ValidatorConsumerConfig(p)); err != nil {
			return startErr(ctx, fmt.Errorf("validator: consumer of partition %d: %w", p, err))
		}
	}

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
	probes := []opshttp.Probe{opshttp.NATS(nc)}
	if cfg.RedisURL != "" {
		probes = append(probes, opshttp.Probe{Name: "redis", Check: limiter.Ping})
	}
	if med != nil {
		probes = append(probes, opshttp.Probe{Name: "storage", Check: med.Ping})
	}
	ops.Serve(probes)

	states := &roomStates{nc: nc, js: js, maxBytes: int64(cfg.RoomSnapshotBytes), log: evt.CachedInfo().Created.UTC().Format(time.RFC3339Nano),
		window: cfg.RoomMessages, logger: log, saved: m.snapshots}
	if err := states.ensure(ctx); err != nil {
		log.Warn("room states will be folded from the log", "err", err)
	}
	v := &validator{
		cfg: cfg, log: log, nc: nc, js: js, evt: evt, cmds: cmds, consumers: consumers, sessions: dir, limiter: limiter, media: med, now: time.Now, metrics: m,
		pullsDone: make(chan struct{}), lastNak: map[int]jetstream.Msg{},
		states: states, acks: &acks{log: log, quiet: ackQuiet}, commit: newCommitter(nc, js, m.commitBatch, minAtomic(cfg.DeferredSync)),
	}
	for p := range v.inFlight {
		v.inFlight[p] = make(chan struct{}, maxInFlight)
	}
	// work outlives ctx, so that the commands this instance holds can be
	// settled before it lets go of its partitions.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopDeadline := context.AfterFunc(ctx, func() { time.AfterFunc(pullWait+shutdownGrace, cancelWork) })
	defer stopDeadline()
	v.work = work
	// The committer outlives the workers, which wait on it.
	commitCtx, stopCommit := context.WithCancel(context.WithoutCancel(ctx))
	var committing sync.WaitGroup
	committing.Go(func() { v.commit.run(commitCtx) })
	defer committing.Wait()
	defer stopCommit()
	var wg sync.WaitGroup
	v.workers = make([]*worker, cfg.Workers)
	for i := range v.workers {
		w := &worker{v: v, q: make(chan item, queueLen), rooms: newRoomCache(max(cfg.RoomCacheBytes/cfg.Workers, 1), states.save)}
		v.workers[i] = w
		wg.Go(func() { w.run(work) })
	}

	// One pull loop per partition. A loop stops asking for commands when ctx
	// ends and returns once its last request is over, so nothing can be in
	// flight to this instance when it lets go of the partition.
	var pulls sync.WaitGroup
	for p, cons := range consumers.all() {
		pulls.Go(func() { v.pull(ctx, p, cons) })
	}
	log.Info("validator started", "partitions", events.CommandPartitions, "workers", cfg.Workers,
		"rate_limits", limiter.Rules().String(), "max_message_runes", cfg.MaxTextRunes,
		"room_cache_bytes", cfg.RoomCacheBytes, "room_messages", cfg.RoomMessages, "sessions", cfg.Sessions,
		"media_storage", cfg.Storage.Enabled())

	<-ctx.Done()
	pulls.Wait()
	v.shutdown(cmds, consumers.all(), &wg)
	log.Info("validator stopped")
	return natsconn.Lost(ctx)
}

// pull asks partition p for commands and dispatches them until ctx ends
// (pinned.Loop). It pulls with explicit requests (Fetch) rather than a
// continuous Consume: a request always ends at the server (batch full or
// expired) before its inbox goes away, so stopping never strands a command
// in a dead inbox. A stranded command would keep the partition pinned to
// this instance (which never saw its pin id) until the pinned TTL, and come
// back in the server's redelivery order rather than the stream's.
func (v *validator) pull(ctx context.Context, p int, cons jetstream.Consumer) {
	pinned.Loop{
		Group: events.ValidatorGroup, Batch: pullBatch, Wait: pullWait,
		Deliver:   func(m jetstream.Msg) { v.dispatch(p, m) },
		Delivered: func(n int) { v.metrics.batch.Observe(float64(n)) },
		// No one answered the request, or the consumer is gone: NATS may
		// have restarted without the consumer and the stream, which live
		// in memory.
		Recover: func(ctx context.Context, cons jetstream.Consumer) (jetstream.Consumer, bool) {
			return v.recover(ctx, p, cons)
		},
		MinBackoff: backoffMin, MaxBackoff: backoffMax,
		Logger: v.log.With("partition", p),
	}.Run(ctx, cons)
}

// lost reports whether a request failed because the consumer, or the
// command stream itself, is gone.
func lost(err error) bool { return pinned.Ended(err) == pinned.Gone }

// recover checks that partition p's consumer still exists, and restores it
// if it does not. It reports the consumer to pull from and whether to pull
// again at once.
func (v *validator) recover(ctx context.Context, p int, cons jetstream.Consumer) (jetstream.Consumer, bool) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	_, err := cons.Info(ctx)
	if err == nil {
		return cons, true
	}
	if !lost(err) {
		return cons, false // NATS is away: wait and try again
	}
	c, err := v.restore(ctx, p)
	if err != nil {
		v.log.Warn("restore command partition", "partition", p, "err", err)
		return cons, false
	}
	return c, true
}

// restore makes partition p's consumer again, and the command stream first
// if it is gone too: both are kept in memory, so a NATS restart loses them
// (with the commands they held, which their gateways answer once their
// deadline has passed). A stream made anew numbers its commands from 1
// again, so what this instance knew of p's sequences is forgotten.
func (v *validator) restore(ctx context.Context, p int) (jetstream.Consumer, error) {
	if err := events.EnsureStreams(ctx, v.js, v.cfg.Streams); err != nil {
		return nil, err
	}
	if err := v.states.ensure(ctx); err != nil {
		v.log.Warn("room states will be folded from the log", "err", err)
	}
	c, err := v.cmds.CreateOrUpdateConsumer(ctx, events.ValidatorConsumerConfig(p))
	if err != nil {
		return nil, err
	}
	v.consumers.set(p, c)
	v.queued[p] = 0
	v.pins[p].Lost()
	v.readMu.Lock()
	v.read[p] = nil
	v.readMu.Unlock()
	v.log.Info("command partition restored", "partition", p)
	return c, nil
}

// consumerSet holds the partitions' consumers: a partition's pull loop
// replaces its own when NATS lost it, while metrics read them all.
type consumerSet struct {
	mu sync.Mutex
	c  []jetstream.Consumer
}

func (s *consumerSet) get(p int) jetstream.Consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c[p]
}

func (s *consumerSet) set(p int, c jetstream.Consumer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c[p] = c
}

func (s *consumerSet) all() []jetstream.Consumer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.c)
}

// startErr reports a start-up failure, unless it was caused by ctx ending,
// which is a shutdown like any other.
func startErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// dispatch hands a command to the worker of its subject: one room's commands
// always go to one worker, in the order the partition delivers them.
func (v *validator) dispatch(p int, m jetstream.Msg) {
	it := item{p: p, m: m}
	md, mdErr := m.Metadata()
	if mdErr == nil {
		it.seq = md.Sequence.Stream
	}
	if changed, _ := v.pins[p].Seen(m); changed && mdErr == nil {
		v.takeOver(p, it.seq)
	}
	if mdErr == nil && md.NumDelivered > 1 {
		v.metrics.redeliveries.WithLabelValues(events.ValidatorConsumerName(p)).Inc()
	}
	v.queue(it)
}

// takeOver runs when this instance is given partition p, before the first
// command delivered to it (at stream sequence next): it decides first every
// command of p that was ever delivered and not acked, in append order. Those
// are commands another instance took and never settled (it died: the server
// redelivers them only after AckWait, after newer commands of their rooms)
// or handed back (the server redelivers those in an order of its own). The
// work queue keeps only unacked commands, so reading p up to the consumer's
// last delivered sequence finds exactly those. Their deliveries come later
// and are acked as already decided. What this instance already queued is
// not read again: an instance that lost its pin for being slow and got it
// back holds those commands still, in order.
func (v *validator) takeOver(p int, next uint64) {
	ctx, cancel := context.WithTimeout(v.work, publishTimeout)
	defer cancel()
	end := next // read the commands before end
	if info, err := v.consumers.get(p).Info(ctx); err == nil {
		end = max(end, info.Delivered.Stream+1)
	} else {
		v.log.Warn("takeover: commands handed back may be decided out of order", "partition", p, "err", err)
	}
	n := 0
	for seq := v.queued[p] + 1; seq < end; n++ {
		m, err := v.cmds.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(events.PartitionFilter(p)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			v.log.Warn("takeover: older commands are left to redelivery", "partition", p, "err", err)
			break
		}
		if m.Sequence >= end {
			break
		}
		v.readMu.Lock()
		if v.read[p] == nil {
			v.read[p] = map[uint64]bool{}
		}
		v.read[p][m.Sequence] = true
		v.readMu.Unlock()
		v.queue(item{p: p, read: m, seq: m.Sequence})
		seq = m.Sequence + 1
	}
	if n > 0 {
		v.log.Info("took over a partition with commands left unacked", "partition", p, "commands", n)
	}
}

// readBefore reports whether the delivered command at stream sequence seq
// of partition p was read at a takeover, and forgets it: its read copy, on
// the same worker and queued before, has been decided and answered.
func (v *validator) readBefore(p int, seq uint64) bool {
	v.readMu.Lock()
	defer v.readMu.Unlock()
	if !v.read[p][seq] {
		return false
	}
	delete(v.read[p], seq)
	return true
}

// queue hands it to the worker of its subject.
func (v *validator) queue(it item) {
	v.queued[it.p] = max(v.queued[it.p], it.seq)
	h := fnv.New32a()
	h.Write([]byte(it.subject()))
	w := v.workers[h.Sum32()%uint32(len(v.workers))]
	if it.m == nil {
		w.q <- it
		return
	}
	select {
	case v.inFlight[it.p] <- struct{}{}:
		it.slot = true
	case <-v.work.Done():
		// Past the deadline the workers hold commands without a slot, to
		// return them all at the end.
	}
	w.q <- it
}

// settled frees the in-flight slot of a command that was acked, dropped or
// returned.
func (v *validator) settled(it item) {
	if it.slot {
		<-v.inFlight[it.p]
	}
}

// nak returns a command to the server for redelivery, remembering it as the
// partition's last so shutdown can wait until the server has taken them all.
func (v *validator) nak(it item) {
	defer v.settled(it)
	if it.m == nil {
		return
	}
	if err := it.m.Nak(); err != nil {
		v.log.Debug("nak", "partition", it.p, "err", err)
	}
	v.mu.Lock()
	v.lastNak[it.p] = it.m
	v.mu.Unlock()
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
