package gateway

import (
	"context"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/password"
	"github.com/nats-io/nuid"
)

func (s *Server) setSessionCookie(w http.ResponseWriter, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: token, Path: "/", Expires: expires, MaxAge: int(time.Until(expires).Seconds()),
		HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
}

type credentials struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	DisplayName string `json:"displayName"`
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := decodeBody(r, &c); err != nil {
		s.fail(w, err)
		return
	}
	id := events.NormalizeUsername(c.Username)
	c.DisplayName = strings.TrimSpace(c.DisplayName)
	switch {
	case !events.ValidUsername(id):
		s.fail(w, events.Errorf(events.CodeInvalidUsername, "a username is 2 to 32 letters, digits, '_' or '-', starting with a letter or digit"))
		return
	case utf8.RuneCountInString(c.Password) < 8 || len(c.Password) > 256:
		s.fail(w, events.Errorf(events.CodeInvalidPassword, "a password is 8 to 256 characters"))
		return
	}
	if e := events.CheckName("displayName", c.DisplayName, maxDisplayName); e != nil {
		s.fail(w, e)
		return
	}
	if c.DisplayName == "" {
		c.DisplayName = strings.TrimSpace(c.Username)
	}
	if wait := s.attempt(r.Context(), s.registerCounter(clientAddr(r, s.cfg.TrustedProxies))); wait > 0 {
		s.failThrottled(w, tooManyAttempts(wait))
		return
	}
	var hash string
	err := s.hashing(r.Context(), func() (err error) {
		hash, err = password.Hash(c.Password, s.cfg.Password)
		return err
	})
	if err != nil {
		s.failThrottled(w, err)
		return
	}
	u := userRecord{ID: id, DisplayName: c.DisplayName, PasswordHash: hash, CreatedAt: time.Now().UTC()}
	if err := s.register(r.Context(), u); err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("user registered", "user", id)
	s.answerSession(w, r, u, http.StatusCreated)
}

func (s *Server) answerSession(w http.ResponseWriter, r *http.Request, u userRecord, status int) {
	token, sess, err := s.startSession(r.Context(), u.ID)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.setSessionCookie(w, token, sess.ExpiresAt)
	writeJSON(w, status, map[string]any{"user": u.json(), "token": token})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := decodeBody(r, &c); err != nil {
		s.fail(w, err)
		return
	}
	bad := events.Errorf(events.CodeInvalidCredentials, "wrong username or password")
	id := events.NormalizeUsername(c.Username)
	if !events.ValidUsername(id) || c.Password == "" || len(c.Password) > 256 {
		s.fail(w, bad)
		return
	}
	// Every attempt counts until it succeeds: concurrent guesses are
	// bounded like sequential ones.
	addr := clientAddr(r, s.cfg.TrustedProxies)
	if wait := s.attempt(r.Context(), s.loginCounters(id, addr)...); wait > 0 {
		s.failThrottled(w, tooManyAttempts(wait))
		return
	}
	u, found, err := s.userFromLog(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	var ok bool
	err = s.hashing(r.Context(), func() (err error) {
		if !found {
			// Spend the same time as a real check, so timing does not
			// tell which usernames exist.
			_, _ = password.Verify(c.Password, s.dummyHash())
			return nil
		}
		ok, err = s.checkPassword(r.Context(), u, c.Password)
		return err
	})
	if err != nil {
		s.failThrottled(w, err)
		return
	}
	if !ok {
		s.fail(w, bad)
		return
	}
	s.loginSucceeded(r.Context(), id, addr)
	s.answerSession(w, r, u, http.StatusOK)
}

// dummyHash is a valid hash of nothing anyone knows, for constant-time login.
func (s *Server) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy, _ = password.Hash(nuid.Next(), s.cfg.Password) })
	return s.dummy
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.endSession(r.Context(), sessionOf(r), sessionOf(r).ID); err != nil {
		s.fail(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
}

// handleLogoutAll revokes every session of the user, this one included,
// and so closes all their sockets on every gateway.
func (s *Server) handleLogoutAll(w http.ResponseWriter, r *http.Request) {
	n, err := s.endAllSessions(r.Context(), sessionOf(r))
	if err != nil {
		s.fail(w, err)
		return
	}
	s.log.Info("logged out everywhere", "user", sessionOf(r).User, "sessions", n)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	writeJSON(w, http.StatusOK, map[string]any{"revoked": n})
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	u, err := s.user(r.Context(), sessionOf(r).User)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": u.json()})
}

// user returns a user's profile from Postgres, or from the log when the
// projection does not have it (yet) or is down.
func (s *Server) user(ctx context.Context, id string) (userRecord, error) {
	if p, err := s.reads.Profile(ctx, id); err == nil {
		return userRecord{ID: id, DisplayName: p.DisplayName, AvatarKey: p.AvatarKey, CreatedAt: p.CreatedAt}, nil
	}
	u, found, err := s.userFromLog(ctx, id)
	if err != nil {
		return userRecord{}, err
	}
	if !found {
		return userRecord{}, events.Errorf(events.CodeNotFound, "no such user")
	}
	return u, nil
}
