// Package envflag reads a Chillin service's settings the one way every
// command does: each setting has a CHILLIN_* environment variable and a
// flag of its own, the variable gives the value and the flag, if given,
// overrides it. A command builds one Set in its run function, registers its
// settings (the ones every service shares with the methods named for them,
// so that a setting has one flag name and one variable everywhere), parses
// the arguments and calls Check, which reports every value that does not
// parse or is out of range, naming the setting, its flag and its variable.
//
// It must never read the process environment itself: the command passes its
// getenv (os.Getenv in main, a map in tests), and nothing else reads it.
//
// A Set is used by one goroutine, while the command starts.
package envflag
