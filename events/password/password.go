// Package password hashes and verifies secrets (user and room passwords) with
// argon2id, encoded as PHC strings ($argon2id$v=19$m=...,t=...,p=...$salt$hash),
// the form in which they are stored in facts.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// OWASP is the OWASP Password Storage Cheat Sheet's argon2id configuration:
// 19 MiB of memory, 2 iterations, 1 degree of parallelism.
var OWASP = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of secret under p with a fresh random salt.
func Hash(secret string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(secret), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrMalformed is returned for a stored hash that is not an argon2id PHC string.
var ErrMalformed = errors.New("password: malformed argon2id hash")

// Verify reports whether secret matches the PHC string encoded, in constant
// time with respect to the secret.
func Verify(secret, encoded string) (bool, error) {
	h, err := parse(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(secret), h.salt, h.p.Time, h.p.Memory, h.p.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// WellFormed reports whether encoded is an argon2id PHC string that Verify
// accepts, without hashing anything.
func WellFormed(encoded string) bool {
	_, err := parse(encoded)
	return err == nil
}

type phc struct {
	p         Params
	salt, key []byte
}

func parse(encoded string) (phc, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phc{}, ErrMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return phc{}, ErrMalformed
	}
	var h phc
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.p.Memory, &h.p.Time, &h.p.Threads); err != nil ||
		h.p.Memory == 0 || h.p.Time == 0 || h.p.Threads == 0 || h.p.Memory > 1<<22 || h.p.Time > 64 {
		return phc{}, ErrMalformed
	}
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return phc{}, ErrMalformed
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return phc{}, ErrMalformed
	}
	return h, nil
}
