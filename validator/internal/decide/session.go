package decide

import (
	"fmt"
	"time"

	"github.com/chillin-chat/chillin/events"
)

// Session is what the log says about one session.
type Session struct {
	User      string
	ExpiresAt time.Time // zero: does not expire
	Revoked   bool
	lastID    uint64 // stream sequence of the fact that set User and ExpiresAt
}

// Sessions is the session directory folded from session facts, keyed by
// session id (hex SHA-256 of the token). Facts may be applied in any order and
// more than once (the live feed and a direct read of one user's subject both
// apply them): the newest start or refresh wins and a revocation sticks.
type Sessions map[string]Session

// Apply folds one session fact into the directory.
func (ss Sessions) Apply(s events.Stored) error {
	_, err := ss.Fold(s)
	return err
}

// Fold folds one session fact into the directory and returns the id of the
// session it is about.
func (ss Sessions) Fold(s events.Stored) (string, error) {
	d, err := sessionData(s)
	if err != nil {
		return "", err
	}
	cur := ss[d.Session]
	if s.Type == events.SessionRevoked {
		cur.Revoked = true
		if cur.User == "" {
			cur.User = s.User
		}
	} else if s.ID > cur.lastID {
		cur.User, cur.ExpiresAt, cur.lastID = s.User, d.ExpiresAt, s.ID
	}
	ss[d.Session] = cur
	return d.Session, nil
}

// SessionOf returns the id of the session a session fact is about.
func SessionOf(s events.Stored) (string, error) {
	d, err := sessionData(s)
	return d.Session, err
}

func sessionData(s events.Stored) (events.SessionData, error) {
	switch s.Type {
	case events.SessionStarted, events.SessionRefreshed, events.SessionRevoked:
	default:
		return events.SessionData{}, fmt.Errorf("fact %d: %s is not a session fact", s.ID, s.Type)
	}
	d, err := events.DecodeData[events.SessionData](s.Fact)
	if err != nil {
		return d, fmt.Errorf("fact %d: %w", s.ID, err)
	}
	if d.Session == "" {
		return d, fmt.Errorf("fact %d: %s without session id", s.ID, s.Type)
	}
	return d, nil
}

// CheckSession returns UNAUTHENTICATED unless the session is known, belongs
// to user, is not revoked and has not expired at now.
func CheckSession(s Session, known bool, user string, now time.Time) *events.Error {
	switch {
	case !known:
		return events.Errorf(events.CodeUnauthenticated, "unknown session")
	case s.User != user:
		return events.Errorf(events.CodeUnauthenticated, "session belongs to another user")
	case s.Revoked:
		return events.Errorf(events.CodeUnauthenticated, "session revoked")
	case !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt):
		return events.Errorf(events.CodeUnauthenticated, "session expired")
	}
	return nil
}
