package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Set registers settings on a flag set, each defaulting to its environment
// variable.
type Set struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   []error
	checks []func() error
}

// New returns a Set registering on fs and reading variables with getenv.
// Several Sets may register on one flag set (a command hosting several
// services); each checks its own settings.
func New(fs *flag.FlagSet, getenv func(string) string) *Set {
	return &Set{fs: fs, getenv: getenv}
}

// NewFlagSet returns a flag set for the command name that reports its
// errors (ContinueOnError) and prints its usage to stderr.
func NewFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// Parse parses args on the Set's flag set, refuses arguments left over and
// then runs Check.
func (s *Set) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	if s.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", s.fs.Args())
	}
	return s.Check()
}

// Check reports, all at once, the variables that did not parse and the
// values out of range. Call it after the flag set is parsed.
func (s *Set) Check() error {
	errs := s.errs
	for _, c := range s.checks {
		if err := c(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// value is one setting: its flag, its variable and how it parses.
type value struct {
	name, env string
	set       func(string) error
	get       func() string
	isBool    bool
}

func (v *value) String() string {
	if v == nil || v.get == nil {
		return ""
	}
	return v.get()
}
func (v *value) Set(s string) error { return v.set(s) }
func (v *value) IsBoolFlag() bool   { return v.isBool }

// label is the setting as errors name it: "stream replicas" for
// -stream-replicas.
func (v *value) label() string { return strings.ReplaceAll(v.name, "-", " ") }

// wrong is the error of a value s that does not suit the setting.
func (v *value) wrong(s, want string) error {
	return fmt.Errorf("%s %q: want %s (-%s, %s)", v.label(), s, want, v.name, v.env)
}

// register puts v on the flag set and applies the variable, if set.
func (s *Set) register(v *value, usage string) {
	if v.env != "" {
		usage += " (" + v.env + ")"
	}
	s.fs.Var(v, v.name, usage)
	if v.env == "" {
		return
	}
	if e := s.getenv(v.env); e != "" {
		if err := v.set(e); err != nil {
			s.errs = append(s.errs, err)
		}
	}
}

// check adds a range check run by Check.
func (s *Set) check(c func() error) { s.checks = append(s.checks, c) }

// String registers a string setting.
func (s *Set) String(p *string, name, env, def, usage string) {
	*p = def
	s.register(&value{name: name, env: env, set: func(x string) error { *p = x; return nil }, get: func() string { return *p }}, usage)
}

// List registers a comma-separated list; blanks around items and empty
// items are dropped.
func (s *Set) List(p *[]string, name, env, def, usage string) {
	parse := func(x string) {
		*p = nil
		for _, item := range strings.Split(x, ",") {
			if item = strings.TrimSpace(item); item != "" {
				*p = append(*p, item)
			}
		}
	}
	parse(def)
	s.register(&value{name: name, env: env, set: func(x string) error { parse(x); return nil }, get: func() string { return strings.Join(*p, ",") }}, usage)
}

// Bool registers a setting that is true or false (nothing else: a typo
// is not taken for false). The flag alone means true.
func (s *Set) Bool(p *bool, name, env string, def bool, usage string) {
	*p = def
	v := &value{name: name, env: env, isBool: true, get: func() string { return strconv.FormatBool(*p) }}
	v.set = func(x string) error {
		switch x {
		case "true":
			*p = true
		case "false":
			*p = false
		default:
			return v.wrong(x, "true or false")
		}
		return nil
	}
	s.register(v, usage)
}

// Int registers an integer setting of at least min.
func (s *Set) Int(p *int, name, env string, def, min int, usage string) {
	want := fmt.Sprintf("an integer of at least %d", min)
	if min == 1 {
		want = "a positive integer"
	}
	ranged(s, p, name, env, def, usage, want, strconv.Atoi, strconv.Itoa, func(n int) bool { return n >= min })
}

// Float registers a number setting greater than 0.
func (s *Set) Float(p *float64, name, env string, def float64, usage string) {
	parse := func(x string) (float64, error) { return strconv.ParseFloat(x, 64) }
	format := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	ranged(s, p, name, env, def, usage, "a positive number", parse, format, func(f float64) bool { return f > 0 })
}

// Duration registers a duration setting of at least min.
func (s *Set) Duration(p *time.Duration, name, env string, def, min time.Duration, usage string) {
	want := "a duration of at least " + min.String()
	switch {
	case min <= 0:
		want = "a duration such as 5s"
	case min == time.Nanosecond:
		want = "a positive duration such as 5s"
	}
	ranged(s, p, name, env, def, usage, want, time.ParseDuration, time.Duration.String, func(d time.Duration) bool { return d >= min })
}

// ranged registers a setting parsed by parse whose value must satisfy ok;
// want says what it must be, in the error of a value that is not.
func ranged[T any](s *Set, p *T, name, env string, def T, usage, want string, parse func(string) (T, error), format func(T) string, ok func(T) bool) {
	*p = def
	v := &value{name: name, env: env, get: func() string { return format(*p) }}
	v.set = func(x string) error {
		n, err := parse(x)
		if err != nil {
			return v.wrong(x, want)
		}
		*p = n
		return nil
	}
	s.register(v, usage)
	s.check(func() error {
		if !ok(*p) {
			return v.wrong(format(*p), want)
		}
		return nil
	})
}

// Func registers a setting parsed by parse, which is given def first and
// then the variable or the flag; its error is reported with the setting's
// names.
func (s *Set) Func(name, env, def, usage string, parse func(string) error) {
	cur := def
	v := &value{name: name, env: env, get: func() string { return cur }}
	v.set = func(x string) error {
		cur = x
		return nil
	}
	s.register(v, usage)
	s.check(func() error {
		if err := parse(cur); err != nil {
			return fmt.Errorf("%s %q (-%s, %s): %w", v.label(), cur, v.name, v.env, err)
		}
		return nil
	})
}

// NewLogger returns a JSON or text logger writing to w at level.
func NewLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want json or text", format)
}
