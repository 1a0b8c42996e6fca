package envflag_test

import (
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/envflag"
)

type settings struct {
	nats    string
	n       int
	d       time.Duration
	f       float64
	b       bool
	list    []string
	fn      string
	streams events.StreamOptions
}

func parse(env map[string]string, args ...string) (settings, error) {
	var got settings
	s := envflag.New(envflag.NewFlagSet("test", io.Discard), func(k string) string { return env[k] })
	s.NATSURL(&got.nats)
	s.Int(&got.n, "count", "CHILLIN_COUNT", 3, 1, "")
	s.Duration(&got.d, "wait", "CHILLIN_WAIT", time.Second, time.Millisecond, "")
	s.Float(&got.f, "rate", "CHILLIN_RATE", 1.5, "")
	s.Bool(&got.b, "on", "CHILLIN_ON", false, "")
	s.List(&got.list, "items", "CHILLIN_ITEMS", "a,b", "")
	s.Func("word", "CHILLIN_WORD", "hello", "", func(v string) error {
		if strings.ContainsAny(v, " ") {
			return io.ErrUnexpectedEOF
		}
		got.fn = v
		return nil
	})
	s.Streams(&got.streams)
	err := s.Parse(args)
	return got, err
}

func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		want    string // fmt of the settings
		wantErr []string
	}{
		{name: "defaults", want: "nats://127.0.0.1:4222 3 1s 1.5 false [a b] hello 1"},
		{name: "environment", env: map[string]string{
			"CHILLIN_NATS_URL": "nats://n:1", "CHILLIN_COUNT": "7", "CHILLIN_WAIT": "2m", "CHILLIN_RATE": "0.5",
			"CHILLIN_ON": "true", "CHILLIN_ITEMS": " x , ,y ", "CHILLIN_WORD": "bye", "CHILLIN_STREAM_REPLICAS": "3",
		}, want: "nats://n:1 7 2m0s 0.5 true [x y] bye 3"},
		{name: "flags override the environment", env: map[string]string{"CHILLIN_NATS_URL": "nats://n:1", "CHILLIN_COUNT": "7", "CHILLIN_ON": "true"},
			args: []string{"-nats", "nats://f:2", "-count", "9", "-on=false", "-items", ""}, want: "nats://f:2 9 1s 1.5 false [] hello 1"},
		{name: "a flag alone is true", args: []string{"-on"}, want: "nats://127.0.0.1:4222 3 1s 1.5 true [a b] hello 1"},
		{name: "a bad variable is named", env: map[string]string{"CHILLIN_COUNT": "seven"}, wantErr: []string{"count", "CHILLIN_COUNT", "-count", `"seven"`}},
		{name: "a bad variable overridden by a flag is still reported", env: map[string]string{"CHILLIN_COUNT": "seven"}, args: []string{"-count", "2"}, wantErr: []string{"CHILLIN_COUNT"}},
		{name: "a bad flag", args: []string{"-wait", "soon"}, wantErr: []string{"wait", "duration"}},
		{name: "out of range", env: map[string]string{"CHILLIN_STREAM_REPLICAS": "0"}, args: []string{"-wait", "1us"},
			wantErr: []string{"stream replicas", "-stream-replicas", "positive integer", "wait", "at least 1ms"}},
		{name: "not a positive number", env: map[string]string{"CHILLIN_RATE": "NaN"}, wantErr: []string{"rate", "positive number"}},
		{name: "only true or false", env: map[string]string{"CHILLIN_ON": "1"}, wantErr: []string{"on", "true or false"}},
		{name: "a value its parser refuses", env: map[string]string{"CHILLIN_WORD": "two words"}, wantErr: []string{"word", "CHILLIN_WORD", io.ErrUnexpectedEOF.Error()}},
		{name: "stray argument", args: []string{"extra"}, wantErr: []string{"unexpected arguments"}},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: []string{"not defined"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(tc.env, tc.args...)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error; settings %+v", got)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := strings.Join([]string{got.nats, itoa(got.n), got.d.String(), ftoa(got.f), btoa(got.b), "[" + strings.Join(got.list, " ") + "]", got.fn, itoa(got.streams.Replicas)}, " ")
			if s != tc.want {
				t.Fatalf("got  %s\nwant %s", s, tc.want)
			}
		})
	}
}

func TestLogger(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		args    []string
		wantErr string
		want    string
	}{
		{want: `"msg":"shown"`},
		{env: map[string]string{"CHILLIN_LOG_FORMAT": "text"}, want: "msg=shown"},
		{args: []string{"-log-level", "error"}, want: ""},
		{env: map[string]string{"CHILLIN_LOG_FORMAT": "xml"}, wantErr: "log format"},
		{args: []string{"-log-level", "loud"}, wantErr: "log level"},
	} {
		var out strings.Builder
		s := envflag.New(envflag.NewFlagSet("test", io.Discard), func(k string) string { return tc.env[k] })
		logger := s.Logger("json", &out)
		err := s.Parse(tc.args)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v %v: err %v, want %q", tc.env, tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		logger().Info("shown")
		if (tc.want == "") != (out.Len() == 0) || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v %v: logged %q, want %q", tc.env, tc.args, out.String(), tc.want)
		}
	}
}

func itoa(n int) string     { return strconv.Itoa(n) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
func btoa(b bool) string    { return strconv.FormatBool(b) }
