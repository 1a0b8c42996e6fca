package decide

import (
	"fmt"
	"strings"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/media"
)

// User is what the log says about one user, folded from the facts of the
// user's subject (events.UserSubject), for deciding the user's commands.
type User struct {
	ID string
	// Exists: the username is taken, by a registration or an import.
	Exists bool
	// Legacy: an imported user's legacy credential awaits its upgrade to
	// argon2id; it is the only credential that may be upgraded.
	Legacy bool
	// RegisteredBy is the id of the command whose user.registered took the
	// username, so that the same command decided again (a retry, a
	// redelivery) is recognised as done rather than refused.
	RegisteredBy string
	// LastID is the stream sequence of the user's last fact, 0 for none:
	// a user fact is appended only if the subject is still there.
	LastID uint64
}

// Apply folds the next fact of the user's subject. Fact types it does not
// know change nothing but LastID.
func (u *User) Apply(s events.Stored) error {
	switch s.Type {
	case events.UserRegistered:
		u.Exists, u.Legacy, u.RegisteredBy = true, false, s.Cmd
	case events.UserImported:
		d, err := events.DecodeData[events.UserImportedData](s.Fact)
		if err != nil {
			return fmt.Errorf("user %s: fact %d: %w", u.ID, s.ID, err)
		}
		u.Exists, u.Legacy = true, d.LegacySHA256 != ""
	case events.UserPasswordUpgraded:
		u.Legacy = false
	}
	u.LastID = max(u.LastID, s.ID)
	return nil
}

// SessionTarget is the session a session.end names, "" for other commands
// (or a payload that does not decode, which DecideUser refuses). The caller
// looks it up and passes it as Input.Target.
func SessionTarget(cmd events.Command) string {
	if cmd.Type != events.CmdSessionEnd {
		return ""
	}
	p, _, ok := payload[events.SessionEnd](cmd)
	if !ok || !events.ValidSessionID(p.Session) {
		return ""
	}
	return p.Session
}

// FactSubject is the CHAT_EVT subject of a fact DecideUser decided: the
// user's session subject for a session fact, the user subject otherwise.
func FactSubject(f events.Fact) string {
	if strings.HasPrefix(f.Type, "session.") {
		return events.SessionSubject(f.User)
	}
	return events.UserSubject(f.User)
}

// DecideUser decides one user command (events.IsUserCommand) against the
// user's facts and, through in, the session directory: Input.Session is the
// command's session, Input.Target the session a session.end names. The
// facts it decides are about the command's user only, whatever the payload
// says. A decision carries a Fact, a Reject, or nothing (nothing to do).
//
// What the validator cannot check it takes from the gateway: that the
// password of a registration, a login or a credential upgrade was the
// user's (it never hashes one), and the expiry a session is given.
func DecideUser(u *User, in Input) Decision {
	cmd := in.Cmd
	if u.ID != cmd.User {
		return Decision{Reject: events.Errorf(events.CodeInternal, "command of user %q decided against user %q", cmd.User, u.ID)}
	}
	switch cmd.Type {
	case events.CmdUserRegister:
		return decideRegister(u, in)
	case events.CmdUserUpgradePassword:
		return decideUpgradePassword(u, in)
	case events.CmdUserSetAvatar:
		return decideSetAvatar(u, in)
	case events.CmdSessionStart:
		return decideSessionStart(u, in)
	case events.CmdSessionRefresh:
		return decideSessionRefresh(in)
	case events.CmdSessionEnd:
		return decideSessionEnd(in)
	}
	return Decision{Reject: events.Errorf(events.CodeBadRequest, "unknown command %q", cmd.Type)}
}

// decideRegister takes the username if it was never taken. The fact is
// appended with the user subject's expected last sequence 0 (u.LastID of
// a user with no fact), so a username is taken exactly once.
func decideRegister(u *User, in Input) Decision {
	p, d, ok := payload[events.UserRegister](in.Cmd)
	if !ok {
		return d
	}
	if e := p.Check(); e != nil {
		return Decision{Reject: e}
	}
	if u.Exists && u.RegisteredBy == in.Cmd.ID {
		return Decision{} // this very command took it, in an earlier attempt
	}
	if u.Exists || u.LastID != 0 {
		return Decision{Reject: events.Errorf(events.CodeUsernameTaken, "that username is taken")}
	}
	return userFact(in, events.UserRegistered, events.UserRegisteredData{
		Username: in.Cmd.User, DisplayName: p.DisplayName, PasswordHash: p.PasswordHash,
	})
}

func decideUpgradePassword(u *User, in Input) Decision {
	p, d, ok := payload[events.UserUpgradePassword](in.Cmd)
	if !ok {
		return d
	}
	if e := p.Check(); e != nil {
		return Decision{Reject: e}
	}
	if !u.Legacy {
		// Another login upgraded it first (or there never was one): the
		// gateway checks the password again against what the log holds.
		return Decision{Reject: events.Errorf(events.CodeInvalidCredentials, "no legacy credential to upgrade")}
	}
	return userFact(in, events.UserPasswordUpgraded, events.UserPasswordUpgradedData{PasswordHash: p.PasswordHash})
}

func decideSetAvatar(u *User, in Input) Decision {
	if e := CheckSession(in.Session, in.SessionKnown, in.Cmd.User, in.Now); e != nil {
		return Decision{Reject: e}
	}
	p, d, ok := payload[events.UserSetAvatar](in.Cmd)
	if !ok {
		return d
	}
	// Avatar keys are drawn by the server for one user: the key says whose
	// it is, and only its owner may wear it.
	k, err := media.ParseKey(p.Key)
	if err != nil || k.Purpose != media.PurposeAvatar || k.Owner != in.Cmd.User {
		return Decision{Reject: events.Errorf(events.CodeBadAttachment, "not an avatar upload of %s", in.Cmd.User)}
	}
	if !u.Exists {
		return Decision{Reject: events.Errorf(events.CodeUnauthenticated, "no such user")}
	}
	return userFact(in, events.UserAvatarChanged, events.UserAvatarChangedData{Key: p.Key})
}

// decideSessionStart records a new session of an existing user. The
// session id is the command's; one the log already holds is refused.
func decideSessionStart(u *User, in Input) Decision {
	p, d, ok := payload[events.SessionStart](in.Cmd)
	if !ok {
		return d
	}
	switch {
	case !events.ValidSessionID(in.Cmd.Session):
		return Decision{Reject: events.Errorf(events.CodeBadRequest, "a session id is the hex SHA-256 of its token")}
	case !u.Exists:
		return Decision{Reject: events.Errorf(events.CodeUnauthenticated, "no such user")}
	case in.SessionKnown && in.Session.User == in.Cmd.User && !in.Session.Revoked:
		// Ids are hashes of 256 random bits: this is the same command,
		// recorded by an earlier attempt.
		return Decision{}
	case in.SessionKnown:
		return Decision{Reject: events.Errorf(events.CodeBadRequest, "that session exists")}
	case !p.ExpiresAt.After(in.Now):
		return Decision{Reject: events.Errorf(events.CodeBadRequest, "a session expires after it starts")}
	}
	return userFact(in, events.SessionStarted, events.SessionData{Session: in.Cmd.Session, ExpiresAt: p.ExpiresAt})
}

// decideSessionRefresh moves a live session's recorded expiry forward.
func decideSessionRefresh(in Input) Decision {
	if e := CheckSession(in.Session, in.SessionKnown, in.Cmd.User, in.Now); e != nil {
		return Decision{Reject: e}
	}
	p, d, ok := payload[events.SessionRefresh](in.Cmd)
	if !ok {
		return d
	}
	if !p.ExpiresAt.After(in.Now) || (!in.Session.ExpiresAt.IsZero() && !p.ExpiresAt.After(in.Session.ExpiresAt)) {
		return Decision{}
	}
	return userFact(in, events.SessionRefreshed, events.SessionData{Session: in.Cmd.Session, ExpiresAt: p.ExpiresAt})
}

// decideSessionEnd revokes a session of the command's user, asked for
// from a live session of the same user. A session revoked already stays
// so, with nothing appended.
func decideSessionEnd(in Input) Decision {
	p, d, ok := payload[events.SessionEnd](in.Cmd)
	if !ok {
		return d
	}
	switch {
	case !events.ValidSessionID(p.Session):
		return Decision{Reject: events.Errorf(events.CodeBadRequest, "a session id is the hex SHA-256 of its token")}
	case !in.TargetKnown || in.Target.User != in.Cmd.User:
		return Decision{Reject: events.Errorf(events.CodeNotFound, "no such session")}
	case in.Target.Revoked:
		return Decision{}
	}
	if e := CheckSession(in.Session, in.SessionKnown, in.Cmd.User, in.Now); e != nil {
		return Decision{Reject: e}
	}
	return userFact(in, events.SessionRevoked, events.SessionData{Session: p.Session})
}

func userFact(in Input, typ string, data any) Decision {
	f, err := events.NewFact(typ, "", 0, in.Cmd.User, in.Cmd.ID, in.Now, data)
	if err != nil {
		return Decision{Reject: events.Errorf(events.CodeInternal, "could not record the %s", typ)}
	}
	return Decision{Fact: &f}
}
