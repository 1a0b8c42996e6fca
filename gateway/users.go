package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/password"
)

// userRecord is a user as the log knows them.
type userRecord struct {
	ID           string
	DisplayName  string
	PasswordHash string // argon2id; empty for an imported user not upgraded yet
	// LegacySHA256 is an imported user's credential from the original app
	// (unsalted SHA-256, hex) until their first login replaces it.
	LegacySHA256 string
	AvatarKey    string
	CreatedAt    time.Time
}

// userFromLog folds a user's profile facts.
func (s *Server) userFromLog(ctx context.Context, id string) (userRecord, bool, error) {
	last, ok, err := events.LastOnSubject(ctx, s.evt, events.UserSubject(id))
	if err != nil || !ok {
		return userRecord{}, false, err
	}
	facts, err := events.ReadSubject(ctx, s.js, events.UserSubject(id), 0, last.ID, 0)
	if err != nil {
		return userRecord{}, false, err
	}
	var u userRecord
	for _, f := range facts {
		switch f.Type {
		case events.UserRegistered:
			d, err := events.DecodeData[events.UserRegisteredData](f.Fact)
			if err != nil {
				return userRecord{}, false, err
			}
			u = userRecord{ID: id, DisplayName: d.DisplayName, PasswordHash: d.PasswordHash, CreatedAt: f.At}
		case events.UserImported:
			d, err := events.DecodeData[events.UserImportedData](f.Fact)
			if err != nil {
				return userRecord{}, false, err
			}
			u = userRecord{ID: id, DisplayName: d.DisplayName, LegacySHA256: d.LegacySHA256, CreatedAt: f.At}
		case events.UserPasswordUpgraded:
			d, err := events.DecodeData[events.UserPasswordUpgradedData](f.Fact)
			if err != nil {
				return userRecord{}, false, err
			}
			u.PasswordHash, u.LegacySHA256 = d.PasswordHash, ""
		case events.UserAvatarChanged:
			d, err := events.DecodeData[events.UserAvatarChangedData](f.Fact)
			if err != nil {
				return userRecord{}, false, err
			}
			u.AvatarKey = d.Key
		}
	}
	return u, u.ID != "", nil
}

// checkPassword verifies a login's password against the user's credential.
// An argon2id hash is verified as it is. A legacy SHA-256 credential (an
// imported user's, until their first login) is compared once, as hex digests
// in constant time, and on a match replaced at once by an argon2id hash of
// the password (user.password_upgraded); nothing else ever accepts it. A
// user with neither (an imported name that only wrote messages) never logs
// in. Failures spend the time of an argon2id check, like unknown usernames.
func (s *Server) checkPassword(ctx context.Context, u userRecord, pw string) (bool, error) {
	for range 3 {
		switch {
		case u.PasswordHash != "":
			return password.Verify(pw, u.PasswordHash)
		case u.LegacySHA256 == "" || !legacyMatch(u.LegacySHA256, pw):
			_, _ = password.Verify(pw, s.dummyHash())
			return false, nil
		}
		err := s.upgradePassword(ctx, u, pw)
		if e := (*events.Error)(nil); !errors.As(err, &e) || e.Code != events.CodeInvalidCredentials {
			return err == nil, err
		}
		// The validator found no legacy credential left to upgrade (a
		// concurrent login upgraded it): decide again on what the log
		// holds now.
		var found bool
		if u, found, err = s.userFromLog(ctx, u.ID); err != nil || !found {
			return false, err
		}
	}
	return false, fmt.Errorf("credential of %s kept changing", u.ID)
}

// legacyMatch compares the SHA-256 of pw with a legacy hex digest in
// constant time. A malformed digest never matches.
func legacyMatch(legacyHex, pw string) bool {
	if len(legacyHex) != sha256.Size*2 {
		return false
	}
	sum := sha256.Sum256([]byte(pw))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(strings.ToLower(legacyHex))) == 1
}

// upgradePassword replaces u's legacy credential with an argon2id hash of
// pw. The validator refuses it with INVALID_CREDENTIALS when the credential
// is no longer the legacy one.
func (s *Server) upgradePassword(ctx context.Context, u userRecord, pw string) error {
	hash, err := password.Hash(pw, s.cfg.Password)
	if err != nil {
		return err
	}
	if err := s.ask(ctx, events.CmdUserUpgradePassword, u.ID, "", "", events.UserUpgradePassword{PasswordHash: hash}); err != nil {
		return err
	}
	s.log.Info("legacy password upgraded to argon2id", "user", u.ID)
	return nil
}

// register takes u's username only if it was never taken: the validator
// appends user.registered with the user subject's expected last sequence
// 0, and refuses with USERNAME_TAKEN otherwise.
func (s *Server) register(ctx context.Context, u userRecord) error {
	return s.ask(ctx, events.CmdUserRegister, u.ID, "", "",
		events.UserRegister{DisplayName: u.DisplayName, PasswordHash: u.PasswordHash})
}
