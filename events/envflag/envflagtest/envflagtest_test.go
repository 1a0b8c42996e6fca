package envflagtest_test

import (
	"errors"
	"testing"

	"github.com/chillin-chat/chillin/events/envflag/envflagtest"
)

// parse is a command whose setting is CHILLIN_NAME, or -name.
func parse(getenv func(string) string, args []string) (string, error) {
	name := getenv("CHILLIN_NAME")
	if len(args) == 2 && args[0] == "-name" {
		name = args[1]
	}
	if name == "" {
		return "", errors.New("name: none given")
	}
	return name, nil
}

// A case passes only when the command does what it wants. Each is run as a
// test of its own, whose failure does not fail this one, and its outcome
// read back.
func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    envflagtest.Case[string]
		pass bool
	}{
		{"from the environment", envflagtest.Case[string]{Env: map[string]string{"CHILLIN_NAME": "a"}, Check: is("a")}, true},
		{"a flag overrides it", envflagtest.Case[string]{Env: map[string]string{"CHILLIN_NAME": "a"}, Args: []string{"-name", "b"}, Check: is("b")}, true},
		{"a check that fails", envflagtest.Case[string]{Env: map[string]string{"CHILLIN_NAME": "a"}, Check: is("b")}, false},
		{"the error wanted", envflagtest.Case[string]{WantErr: "none given"}, true},
		{"another error", envflagtest.Case[string]{WantErr: "too long"}, false},
		{"no error where one is wanted", envflagtest.Case[string]{Env: map[string]string{"CHILLIN_NAME": "a"}, WantErr: "name"}, false},
		{"an error where none is wanted", envflagtest.Case[string]{}, false},
		{"another variable is unset", envflagtest.Case[string]{Env: map[string]string{"CHILLIN_OTHER": "a"}, WantErr: "none given"}, true},
	} {
		tc.c.Name = "case"
		passed := runAlone(func(t *testing.T) { envflagtest.Run(t, parse, []envflagtest.Case[string]{tc.c}) })
		if passed != tc.pass {
			t.Errorf("%s: passed %v, want %v", tc.name, passed, tc.pass)
		}
	}
}

func is(want string) func(*testing.T, string) {
	return func(t *testing.T, got string) {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// runAlone runs f as a test of its own and reports whether it passed.
func runAlone(f func(t *testing.T)) bool {
	all := func(string, string) (bool, error) { return true, nil } // whatever -run says
	return testing.RunTests(all, []testing.InternalTest{{Name: "Alone", F: f}})
}
