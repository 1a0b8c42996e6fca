package gateway

import (
	"strings"
	"testing"
)

// The login of imported users (checkPassword, upgradePassword) runs against
// a real system in ops/e2e (TestLegacyLogin); this is the comparison itself.
func TestLegacyMatch(t *testing.T) {
	// SHA-256("password"), as the original Chillin-Chatroom stored it.
	const digest = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
	for _, tc := range []struct {
		name   string
		digest string
		pw     string
		want   bool
	}{
		{"the password", digest, "password", true},
		{"upper-case digest", strings.ToUpper(digest), "password", true},
		{"another password", digest, "Password", false},
		{"trailing space", digest, "password ", false},
		{"the digest itself", digest, digest, false},
		{"empty password", digest, "", false},
		{"truncated digest", digest[:63], "password", false},
		{"empty digest", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := legacyMatch(tc.digest, tc.pw); got != tc.want {
				t.Fatalf("legacyMatch = %v, want %v", got, tc.want)
			}
		})
	}
}
