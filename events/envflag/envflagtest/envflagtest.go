// Package envflagtest runs the table tests of a command's configuration:
// each case gives the environment and the arguments, and wants either an
// error naming what is wrong or a configuration that passes its checks.
// Every command's config test is such a table, checked one way.
//
// It is for tests only.
package envflagtest

import (
	"strings"
	"testing"
)

// Case is one way of starting a command.
type Case[C any] struct {
	Name string
	Env  map[string]string // CHILLIN_* variables; the others are unset
	Args []string
	// WantErr, if not empty, is a part of the error the command must
	// refuse the case with.
	WantErr string
	// Check (if set) checks the configuration of a case that is not
	// refused.
	Check func(t *testing.T, c C)
}

// Run runs each case as a subtest of t: parse is given a getenv reading
// only the case's Env, and its Args.
func Run[C any](t *testing.T, parse func(getenv func(string) string, args []string) (C, error), cases []Case[C]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			c, err := parse(func(k string) string { return tc.Env[k] }, tc.Args)
			if tc.WantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.WantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.WantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.Check != nil {
				tc.Check(t, c)
			}
		})
	}
}
