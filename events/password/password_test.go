package password

import (
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	fast := Params{Memory: 64, Time: 1, Threads: 1}
	h, err := Hash("correct horse", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected PHC string %q", h)
	}
	for secret, want := range map[string]bool{"correct horse": true, "correct horse ": false, "": false} {
		ok, err := Verify(secret, h)
		if err != nil || ok != want {
			t.Errorf("Verify(%q) = %v, %v; want %v", secret, ok, err, want)
		}
	}
	h2, _ := Hash("correct horse", fast)
	if h2 == h {
		t.Fatal("two hashes of one secret share a salt")
	}
}

func TestOWASPParams(t *testing.T) {
	h, err := Hash("pw", OWASP)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, "$m=19456,t=2,p=1$") {
		t.Fatalf("not the OWASP parameters: %q", h)
	}
	if ok, err := Verify("pw", h); !ok || err != nil {
		t.Fatalf("verify: %v %v", ok, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, enc := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
	} {
		if _, err := Verify("x", enc); err == nil {
			t.Errorf("Verify accepted %q", enc)
		}
		if WellFormed(enc) {
			t.Errorf("WellFormed accepted %q", enc)
		}
	}
	h, err := Hash("secret", Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !WellFormed(h) {
		t.Errorf("WellFormed refused a hash of Hash: %q", h)
	}
}
