package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/natsconn"
	"github.com/chillin-chat/chillin/events/opshttp"
	"github.com/chillin-chat/chillin/events/ratelimit"
	"github.com/chillin-chat/chillin/gateway/internal/hub"
	"github.com/chillin-chat/chillin/gateway/internal/readmodel"
	"github.com/chillin-chat/chillin/gateway/internal/wsconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
)

// httpTimeouts bound what one HTTP client may hold of the gateway: its
// headers within 10 s (a slowloris client is closed), a whole request (REST
// bodies are small: uploads go straight to object storage) within 30 s, a
// response within a minute, and an idle kept-alive connection two minutes
// (longer than nginx keeps its upstream connections, so that nginx, not
// the gateway, closes them). A WebSocket is not subject to them once
// upgraded: the server clears a connection's deadlines when it is hijacked,
// and the socket keeps deadlines of its own (writeTimeout, pings).
var httpTimeouts = opshttp.Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: time.Minute, Idle: 2 * time.Minute}

// Server is one running gateway.
type Server struct {
	cfg Config
	log *slog.Logger
	id  string // this instance, for routing command outcomes back to it

	nc  *nats.Conn
	js  jetstream.JetStream
	evt jetstream.Stream
	pg  *pgxpool.Pool
	rdb *redis.Client
	hub *hub.Hub
	// limits counts typing, presence and room creation per user (limits.go).
	limits *ratelimit.Limiter

	// natsCtx ends when nc is closed for good (natsconn): the gateway
	// then stops, to be restarted and dial anew.
	natsCtx context.Context

	mu       sync.Mutex
	connSeq  uint64
	leaseSeq uint64
	conns    map[string]*conn // by connection id
	byUser   map[string]map[*conn]struct{}
	sockets  map[string]int // sockets each user holds or is opening here (sockets.go)
	pending  map[string]chan events.Outcome
	// unanswered holds message and reaction commands until their decision
	// is known (answers.go).
	unanswered map[string]*unanswered

	metrics *metrics

	dummyOnce sync.Once
	dummy     string

	guard authGuard // bounds password hashing, logs counter outages (throttle.go)

	static http.Handler // the web app, if configured

	media *mediaStore // media storage; nil when not configured (uploads.go)

	// reads answers every read of the projections (reads.go).
	reads reads

	poller *wsconn.Poller // parked idle sockets; nil where unavailable

	readReports readReports // room:read reports, coalesced (readstate.go)
}

// Run serves until ctx ends, then closes every socket with 1001 (going
// away, reconnect) and returns. It stops the same way, returning the error,
// when its NATS connection is closed for good (see natsconn).
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger.With("service", "gateway"), id: nuid.Next(),
		conns: map[string]*conn{}, byUser: map[string]map[*conn]struct{}{},
		sockets: map[string]int{},
		pending: map[string]chan events.Outcome{}, unanswered: map[string]*unanswered{},
		metrics: newMetrics(cfg.Metrics),
	}
	s.guard.slots = newHashSlots(cfg.Throttle.HashConcurrency, cfg.Throttle.HashWait)
	if cfg.UI != nil {
		var err error
		if s.static, err = staticFiles(cfg.UI, contentSecurityPolicy(cfg.Storage)); err != nil {
			return fmt.Errorf("gateway web app: %w", err)
		}
	}
	defer s.metrics.unregister()
	if err := s.connect(ctx); err != nil {
		return err
	}
	defer s.close()

	stopProfiles, err := opshttp.ServeProfiles(cfg.PprofAddr, s.log)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer stopProfiles()
	if s.poller, err = wsconn.NewPoller(); err != nil {
		s.log.Warn("idle sockets each keep a goroutine", "err", err)
	} else {
		defer s.poller.Close()
	}

	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("gateway listen: %w", err)
		}
	}
	srv := opshttp.NewServer(s.routes(), httpTimeouts)
	s.log.Info("gateway listening", "addr", ln.Addr().String())

	g, gctx := errgroup.WithContext(s.natsCtx)
	g.Go(func() error {
		s.beatPresence(gctx)
		return nil
	})
	g.Go(func() error {
		s.recheckSessions(gctx)
		return nil
	})
	g.Go(func() error {
		s.renewLeases(gctx)
		return nil
	})
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("gateway serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		s.closeAll()
		// The sockets are gone: the read reports waiting for their window
		// go now, while NATS is still there.
		flush, cancelFlush := context.WithTimeout(context.Background(), readPublishTimeout)
		s.readReports.flush(flush)
		cancelFlush()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	})
	err = g.Wait()
	if lost := natsconn.Lost(s.natsCtx); lost != nil {
		return fmt.Errorf("gateway: %w", lost)
	}
	return err
}

func (s *Server) connect(ctx context.Context) (err error) {
	if s.natsCtx, s.nc, err = natsconn.Connect(ctx, s.cfg.NATSURL, "chillin-gateway", s.log); err != nil {
		return err
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return fmt.Errorf("gateway jetstream: %w", err)
	}
	if err = events.EnsureStreams(ctx, s.js, s.cfg.Streams); err != nil {
		return err
	}
	s.evt, err = events.UntilAnswered(ctx, func(ctx context.Context) (jetstream.Stream, error) {
		return s.js.Stream(ctx, events.EvtStream)
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if _, err = s.nc.Subscribe(events.ReplySubject(s.id)+".>", s.onOutcome); err != nil {
		return fmt.Errorf("gateway reply subscription: %w", err)
	}
	pgcfg, err := pgxpool.ParseConfig(s.cfg.PostgresURL)
	if err != nil {
		return fmt.Errorf("gateway postgres url: %w", err)
	}
	pgcfg.ConnConfig.Tracer = pgTracer{s.metrics.pgErrors}
	// Postgres may be down at start: the pool connects lazily and reads
	// degrade with a clear error until it is back.
	if s.pg, err = pgxpool.NewWithConfig(ctx, pgcfg); err != nil {
		return fmt.Errorf("gateway postgres: %w", err)
	}
	ropts, err := redis.ParseURL(s.cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("gateway redis url: %w", err)
	}
	s.rdb = redis.NewClient(ropts)
	s.rdb.AddHook(redisHook{s.metrics.rdErrors})
	s.hub = hub.New(ctx, s.rdb, hub.JetStreamLog{JS: s.js, Evt: s.evt}, s.log, hub.Options{Prefix: s.cfg.RedisPrefix})
	model := readmodel.New(readmodel.Config{PG: s.pg, Redis: s.rdb, RedisPrefix: s.cfg.RedisPrefix, JS: s.js, Evt: s.evt, Log: s.log})
	s.metrics.registry.MustRegister(model.Metrics())
	s.metrics.series = append(s.metrics.series, model.Metrics())
	s.reads = model
	if err := s.openLimits(); err != nil {
		return err
	}
	return s.openMedia(ctx)
}

func (s *Server) close() {
	if s.hub != nil {
		_ = s.hub.Close()
	}
	if s.rdb != nil {
		_ = s.rdb.Close()
	}
	if s.limits != nil {
		_ = s.limits.Close()
	}
	if s.pg != nil {
		s.pg.Close()
	}
	if s.nc != nil {
		_ = s.nc.Drain()
	}
}

// onOutcome routes a validator's outcome to whoever waits for it: a room:join
// in progress, or the socket (named by the reply subject) that resent a
// message, which gets the original back.
func (s *Server) onOutcome(m *nats.Msg) {
	var o events.Outcome
	if err := json.Unmarshal(m.Data, &o); err != nil {
		s.log.Warn("bad outcome", "err", err)
		return
	}
	connID := strings.TrimPrefix(m.Subject, events.ReplySubject(""))
	if u := s.settle(o.Cmd); u != nil && o.Expired {
		u.answerUndecided()
	}
	s.mu.Lock()
	ch := s.pending[o.Cmd]
	c := s.conns[connID]
	s.mu.Unlock()
	if ch != nil {
		select {
		case ch <- o:
		default:
		}
		return
	}
	if c != nil && len(o.Frame) > 0 {
		c.Send(o.Frame)
	}
}

// appendAndWait appends a command and waits for the validator's outcome
// (the gateway relays it, never decides): a room:join or room:leave, or a
// command of the REST API (ask).
func (s *Server) appendAndWait(ctx context.Context, cmd events.Command) (events.Outcome, error) {
	ch := make(chan events.Outcome, 1)
	s.mu.Lock()
	s.pending[cmd.ID] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, cmd.ID)
		s.mu.Unlock()
	}()
	if err := s.appendCommand(ctx, cmd); err != nil {
		return events.Outcome{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.JoinTimeout)
	defer cancel()
	select {
	case o := <-ch:
		return o, nil
	case <-ctx.Done():
		return events.Outcome{}, events.Errorf(events.CodeTimeout, "the server did not answer in time; try again")
	}
}

// appendCommand publishes a command to CHAT_CMD and waits for JetStream's ack.
func (s *Server) appendCommand(ctx context.Context, cmd events.Command) error {
	b, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	subject := events.CommandSubject(cmd)
	switch {
	// checkFrame and the REST handlers refuse such ids first; this keeps
	// one that a new path lets through out of the subject, where
	// nats-server would close the connection over it.
	case subject == "" && events.IsUserCommand(cmd.Type):
		return events.Errorf(events.CodeInvalidUsername, "user: not a username")
	case subject == "":
		return events.Errorf(events.CodeInvalidRoom, "room: not a room id")
	}
	if _, err := s.js.Publish(ctx, subject, b, jetstream.WithMsgID(cmd.ID)); err != nil {
		s.log.Warn("append command", "cmd", cmd.ID, "room", cmd.Room, "user", cmd.User, "err", err)
		if !appendFailed(err) {
			return errMaybeQueued
		}
		return events.Errorf(events.CodeUnavailable, "the message could not be queued; try again")
	}
	s.metrics.commands.WithLabelValues(cmd.Type).Inc()
	return nil
}
