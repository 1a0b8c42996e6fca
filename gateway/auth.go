package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/nats-io/nuid"
	"github.com/redis/go-redis/v9"
)

const cookieName = "chillin_session"

// session is an authenticated session. ID is the hex SHA-256 of the token;
// the token itself is never stored anywhere.
type session struct {
	ID        string
	User      string
	StartedAt time.Time
	// ExpiresAt slides SessionTTL ahead of the session's last use, never
	// past StartedAt + SessionMaxAge.
	ExpiresAt time.Time
}

// cachedSession is a session's value in Redis.
type cachedSession struct {
	User string `json:"user"`
	// Start is when the session started (Unix seconds), for its absolute
	// lifetime. An entry without it is read again from Postgres or the log.
	Start int64 `json:"start,omitempty"`
	// Exp is the expiry last recorded in the log; the Redis TTL slides ahead
	// of it and the log is told again once it is an hour behind.
	Exp int64 `json:"exp"`
	// Revoked marks a session ended by logout, so the cache answers at once
	// even before Postgres has applied the revocation.
	Revoked bool `json:"revoked,omitempty"`
}

var errUnauthenticated = events.Errorf(events.CodeUnauthenticated, "log in first")

// newToken returns a session token for user: the user id, a dot, and 256
// random bits. The user part lets any gateway find the session in the log.
func newToken(user string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return user + "." + base64.RawURLEncoding.EncodeToString(b), nil
}

// sessionID is the stored form of a token.
func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// tokenUser returns the user part of a well-formed token.
func tokenUser(token string) (string, bool) {
	user, secret, ok := strings.Cut(token, ".")
	if !ok || !events.ValidUsername(user) || len(secret) != 43 {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(secret); err != nil {
		return "", false
	}
	return user, true
}

func requestToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value
	}
	return ""
}

func (s *Server) sessionKey(id string) string { return s.cfg.RedisPrefix + "sess:" + id }

// slide returns sess used at now: valid for SessionTTL more, but never past
// its absolute end. ok is false once the session is over.
func slide(sess session, now time.Time, ttl, maxAge time.Duration) (session, bool) {
	sess.ExpiresAt = now.Add(ttl)
	if end := sess.StartedAt.Add(maxAge); end.Before(sess.ExpiresAt) {
		sess.ExpiresAt = end
	}
	return sess, now.Before(sess.ExpiresAt)
}

// ask appends a command of the REST API (events.IsUserCommand, or room
// creation) and waits for the validator's decision: nil once its fact is in
// the log (or nothing was left to do), the refusal as an *events.Error.
// The gateway appends no fact itself: its NATS user may publish commands
// only.
func (s *Server) ask(ctx context.Context, typ, user, sess, room string, data any) error {
	cmd, err := events.NewCommand(typ, nuid.Next(), user, sess, room, time.Now(), data)
	if err != nil {
		return err
	}
	// Not a connection's subject: the outcome goes to the waiting request.
	cmd.Reply = events.ReplySubject(s.id + ".rest")
	o, err := s.appendAndWait(ctx, cmd)
	if err != nil {
		return err
	}
	if o.Error != nil {
		return o.Error
	}
	return nil
}

// startSession records a new session in the log (through the validator)
// and caches it in Redis.
func (s *Server) startSession(ctx context.Context, user string) (string, session, error) {
	token, err := newToken(user)
	if err != nil {
		return "", session{}, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	sess, _ := slide(session{ID: sessionID(token), User: user, StartedAt: now}, now, s.cfg.SessionTTL, s.cfg.SessionMaxAge)
	if err := s.ask(ctx, events.CmdSessionStart, user, sess.ID, "", events.SessionStart{ExpiresAt: sess.ExpiresAt}); err != nil {
		return "", session{}, err
	}
	s.cacheSession(ctx, sess)
	return token, sess, nil
}

func (s *Server) cacheSession(ctx context.Context, sess session) {
	v, _ := json.Marshal(cachedSession{User: sess.User, Start: sess.StartedAt.Unix(), Exp: sess.ExpiresAt.Unix()})
	ttl := time.Until(sess.ExpiresAt)
	if err := s.rdb.Set(ctx, s.sessionKey(sess.ID), v, ttl).Err(); err != nil {
		s.log.Warn("cache session; Postgres and the log serve it", "user", sess.User, "err", err)
	}
}

// authenticate returns the session of a request's token.
func (s *Server) authenticate(ctx context.Context, r *http.Request) (session, error) {
	token := requestToken(r)
	if token == "" {
		return session{}, errUnauthenticated
	}
	return s.lookupSession(ctx, token)
}

// lookupSession finds the live session of a token.
func (s *Server) lookupSession(ctx context.Context, token string) (session, error) {
	user, ok := tokenUser(token)
	if !ok {
		return session{}, errUnauthenticated
	}
	return s.liveSession(ctx, user, sessionID(token))
}

// liveSession finds a live session of user and marks it used: in Redis
// (sliding its TTL), else in Postgres, else in the log, which knows a
// session the projections have not seen yet. It fails with
// UNAUTHENTICATED for a session that is unknown, revoked, expired or past
// its absolute lifetime.
func (s *Server) liveSession(ctx context.Context, user, id string) (session, error) {
	now := time.Now()
	raw, err := s.rdb.GetEx(ctx, s.sessionKey(id), s.cfg.SessionTTL).Bytes()
	if err == nil {
		var c cachedSession
		if err := json.Unmarshal(raw, &c); err == nil && c.User == user && (c.Start != 0 || c.Revoked) {
			if c.Revoked {
				return session{}, errUnauthenticated
			}
			sess, live := slide(session{ID: id, User: user, StartedAt: time.Unix(c.Start, 0)}, now, s.cfg.SessionTTL, s.cfg.SessionMaxAge)
			if !live {
				return session{}, errUnauthenticated
			}
			if time.Unix(c.Exp, 0).Before(sess.ExpiresAt.Add(-time.Hour)) {
				s.refreshSession(ctx, sess)
			}
			return sess, nil
		}
	} else if !errors.Is(err, redis.Nil) {
		s.log.Debug("session cache unavailable", "err", err)
	}

	sess, found, err := s.sessionFromPostgres(ctx, id)
	if errors.Is(err, errUnauthenticated) {
		return session{}, err // revoked
	}
	if err != nil || !found {
		sess, found, err = s.sessionFromLog(ctx, user, id)
	}
	if err != nil {
		return session{}, err
	}
	if !found || sess.User != user || !now.Before(sess.ExpiresAt) {
		return session{}, errUnauthenticated
	}
	// The recorded expiry may be older than the last use; it still never
	// passes the absolute end.
	if end := sess.StartedAt.Add(s.cfg.SessionMaxAge); !now.Before(end) {
		return session{}, errUnauthenticated
	} else if end.Before(sess.ExpiresAt) {
		sess.ExpiresAt = end
	}
	s.cacheSession(ctx, sess)
	return sess, nil
}

// refreshSession moves the session's recorded expiry forward, at most once
// an hour, so Postgres and the log can serve it while Redis is away. The
// request that used the session does not wait for the validator's
// decision, only for the command to be queued: a refresh is a courtesy,
// and the next use an hour on asks again if this one was lost.
func (s *Server) refreshSession(ctx context.Context, sess session) {
	cmd, err := events.NewCommand(events.CmdSessionRefresh, nuid.Next(), sess.User, sess.ID, "", time.Now(),
		events.SessionRefresh{ExpiresAt: sess.ExpiresAt})
	if err == nil {
		err = s.appendCommand(ctx, cmd)
	}
	if err != nil {
		s.log.Warn("refresh session", "user", sess.User, "err", err)
		return
	}
	s.cacheSession(ctx, sess)
}

// sessionFromPostgres returns found=false for an unknown session and
// UNAUTHENTICATED for a revoked one.
func (s *Server) sessionFromPostgres(ctx context.Context, id string) (session, bool, error) {
	row, found, err := s.reads.Session(ctx, id)
	switch {
	case err != nil || !found:
		return session{}, false, err
	case row.Revoked:
		return session{}, false, errUnauthenticated
	}
	return session{ID: id, User: row.User, StartedAt: row.StartedAt, ExpiresAt: row.ExpiresAt}, true, nil
}

// userSessions folds the session facts of user, by session id.
func (s *Server) userSessions(ctx context.Context, user string) (map[string]userSession, error) {
	out := map[string]userSession{}
	last, ok, err := events.LastOnSubject(ctx, s.evt, events.SessionSubject(user))
	if err != nil || !ok {
		return out, err
	}
	facts, err := events.ReadSubject(ctx, s.js, events.SessionSubject(user), 0, last.ID, 0)
	if err != nil {
		return nil, err
	}
	for _, f := range facts {
		d, err := events.DecodeData[events.SessionData](f.Fact)
		if err != nil || d.Session == "" {
			continue
		}
		us := out[d.Session]
		switch f.Type {
		case events.SessionStarted:
			us.StartedAt, us.ExpiresAt = f.At, d.ExpiresAt
		case events.SessionRefreshed:
			us.ExpiresAt = d.ExpiresAt
		case events.SessionRevoked:
			us.Revoked = true
		}
		out[d.Session] = us
	}
	return out, nil
}

// userSession is one session as its user's facts tell it.
type userSession struct {
	StartedAt, ExpiresAt time.Time
	Revoked              bool
}

func (s *Server) sessionFromLog(ctx context.Context, user, id string) (session, bool, error) {
	all, err := s.userSessions(ctx, user)
	if err != nil {
		return session{}, false, err
	}
	us, ok := all[id]
	if !ok || us.Revoked || us.StartedAt.IsZero() {
		return session{}, false, nil
	}
	return session{ID: id, User: user, StartedAt: us.StartedAt, ExpiresAt: us.ExpiresAt}, true, nil
}

// endSession revokes session id of the user of sess, asked for from sess:
// in the log (which tells every gateway to close its sockets) and in the
// cache.
func (s *Server) endSession(ctx context.Context, sess session, id string) error {
	if err := s.ask(ctx, events.CmdSessionEnd, sess.User, sess.ID, "", events.SessionEnd{Session: id}); err != nil {
		return err
	}
	v, _ := json.Marshal(cachedSession{User: sess.User, Revoked: true})
	if err := s.rdb.Set(ctx, s.sessionKey(id), v, s.cfg.SessionTTL).Err(); err != nil {
		s.log.Warn("cache revoked session", "user", sess.User, "err", err)
	}
	return nil
}

// endAllSessions revokes every session of the user of sess that may still
// be live, sess last (the validator takes each revocation from a live
// session), and closes the user's sockets here; the revocations close them
// on every other gateway (told through the live feed, and found by the
// recheck). It returns how many sessions it revoked.
func (s *Server) endAllSessions(ctx context.Context, sess session) (int, error) {
	user := sess.User
	all, err := s.userSessions(ctx, user)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	n := 0
	ids := make([]string, 0, len(all))
	for id, us := range all {
		// The recorded expiry trails the last use by up to an hour.
		if us.Revoked || !now.Before(us.ExpiresAt.Add(time.Hour)) || !now.Before(us.StartedAt.Add(s.cfg.SessionMaxAge)) {
			continue
		}
		if id != sess.ID {
			ids = append(ids, id)
		}
	}
	ids = append(ids, sess.ID)
	for _, id := range ids {
		if err := s.endSession(ctx, sess, id); err != nil {
			return n, err
		}
		n++
	}
	s.closeSessions(user, func(string) bool { return true })
	return n, nil
}

// closeSessions closes with 4001 the sockets here of user whose session
// ended reports.
func (s *Server) closeSessions(user string, ended func(id string) bool) {
	s.mu.Lock()
	var targets []*conn
	for c := range s.byUser[user] {
		if ended(c.sess.ID) {
			targets = append(targets, c)
		}
	}
	s.mu.Unlock()
	for _, c := range targets {
		c.Close(closeRevoked, "session ended")
	}
}

// watchSession closes c with 4001 once its session ends. A timer at the
// session's expiry checks the session store again: a session used
// meanwhile (or kept alive by recheckSessions) sets the next check, an
// ended one closes the socket.
func (s *Server) watchSession(c *conn) {
	var mu sync.Mutex
	var t *time.Timer
	check := func() {
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		defer cancel()
		next, err := s.checkSocketSession(ctx, c)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && c.ctx.Err() == nil {
			t.Reset(time.Until(next))
		}
	}
	mu.Lock()
	t = time.AfterFunc(time.Until(c.sess.ExpiresAt), check)
	mu.Unlock()
	context.AfterFunc(c.ctx, func() {
		mu.Lock()
		t.Stop()
		mu.Unlock()
	})
}

// checkSocketSession checks c's session in the store and closes c with
// 4001 if it ended; otherwise it returns when to check again. A store that
// does not answer keeps the socket open and is asked again in a minute.
func (s *Server) checkSocketSession(ctx context.Context, c *conn) (time.Time, error) {
	sess, err := s.liveSession(ctx, c.sess.User, c.sess.ID)
	switch {
	case errors.Is(err, errUnauthenticated):
		c.Close(closeRevoked, "session ended")
		return time.Time{}, err
	case err != nil:
		if c.ctx.Err() == nil {
			s.log.Warn("recheck session; socket kept", "user", c.sess.User, "err", err)
		}
		return time.Now().Add(time.Minute), nil
	}
	return sess.ExpiresAt, nil
}

// recheckSessions checks, every SessionRecheck, the session of every
// socket here against the session store, and closes with 4001 the sockets
// whose session was revoked or expired, whether or not the revocation's
// live message reached this gateway. An open socket counts as a use: it
// keeps its session sliding, up to the absolute lifetime.
func (s *Server) recheckSessions(ctx context.Context) {
	s.everySockets(ctx, s.cfg.SessionRecheck, func(ctx context.Context, conns []*conn) {
		bySession := map[string]*conn{}
		for _, c := range conns {
			bySession[c.sess.ID] = c
		}
		for _, c := range bySession {
			if ctx.Err() != nil {
				return
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if _, err := s.checkSocketSession(cctx, c); errors.Is(err, errUnauthenticated) {
				s.closeSessions(c.sess.User, func(id string) bool { return id == c.sess.ID })
			}
			cancel()
		}
	})
}
