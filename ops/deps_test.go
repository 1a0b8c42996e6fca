package ops_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// deps.sh writes var/deps.env, which holds the storage secret, readable by
// its owner alone, and tightens a copy left readable by an older deps.sh.
func TestDepsEnvIsPrivate(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(root(t), "ops", "scripts", "deps.sh"))
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the script in a repository of its own: var/ is the copy's.
	dir := t.TempDir()
	script := filepath.Join(dir, "ops", "scripts", "deps.sh")
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, src, 0o755); err != nil {
		t.Fatal(err)
	}
	env := filepath.Join(dir, "var", "deps.env")
	for _, old := range []bool{false, true} {
		if old {
			if err := os.WriteFile(env, []byte("export CHILLIN_S3_SECRET_KEY=old\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(env, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command("bash", script)
		// The machine's Postgres and Redis, and a configured S3 endpoint:
		// nothing is installed or started.
		cmd.Env = append(os.Environ(), "CHILLIN_PG_PORT=5432", "CHILLIN_REDIS_PORT=6379",
			"CHILLIN_S3_ENDPOINT=s3.invalid:9000", "CHILLIN_S3_SECRET_KEY=secret")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("deps.sh: %v\n%s", err, out)
		}
		fi, err := os.Stat(env)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("var/deps.env (written over an older copy: %v) has mode %v, want 0600", old, mode)
		}
		b, err := os.ReadFile(env)
		if err != nil || !strings.Contains(string(b), "CHILLIN_TEST_S3_SECRET_KEY") {
			t.Errorf("var/deps.env does not carry the storage settings (%v):\n%s", err, b)
		}
	}
}

// compose-secrets.sh writes every secret compose.yml requires to a file
// readable by its owner alone, and keeps the secrets already there.
func TestComposeSecretsScript(t *testing.T) {
	env := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(env, []byte("POSTGRES_PASSWORD=kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root(t), "ops", "scripts", "compose-secrets.sh")
	for range 2 {
		if out, err := exec.Command("bash", script, env).CombinedOutput(); err != nil {
			t.Fatalf("compose-secrets.sh: %v\n%s", err, out)
		}
	}
	fi, err := os.Stat(env)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf(".env has mode %v, want 0600", mode)
	}
	b, err := os.ReadFile(env)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		if _, dup := values[k]; dup {
			t.Errorf("%s written twice", k)
		}
		values[k] = v
	}
	for _, name := range secrets {
		if len(values[name]) < 32 && !(name == "POSTGRES_PASSWORD" && values[name] == "kept") {
			t.Errorf("%s = %q, want a long random secret", name, values[name])
		}
	}
	if values["POSTGRES_PASSWORD"] != "kept" {
		t.Errorf("an existing secret was replaced: %q", values["POSTGRES_PASSWORD"])
	}
	// compose.yml loads with exactly these.
	var kv []string
	for k, v := range values {
		kv = append(kv, k+"="+v)
	}
	if _, err := tryLoadCompose(t, kv); err != nil {
		t.Errorf("compose.yml with the script's .env: %v", err)
	}
}
