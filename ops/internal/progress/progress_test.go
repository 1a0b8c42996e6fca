package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// clock is a fake time source a test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)} }
func lines(b *bytes.Buffer) []string {
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}
func plainMeter(total uint64) (*Meter, *bytes.Buffer, *clock) {
	var b bytes.Buffer
	c := newClock()
	return newMeter(&b, "rebuild", "facts", total, false, c.now), &b, c
}

func TestPlainLines(t *testing.T) {
	m, out, c := plainMeter(10000)
	c.add(time.Second)
	m.Set(1000) // the first line is due at once
	for range 4 {
		c.add(time.Second)
		m.Set(m.done + 1000) // within PlainInterval of the last line: nothing
	}
	c.add(time.Second)
	m.Set(6000)
	got := lines(out)
	want := []string{
		"rebuild: 1000/10000 facts (10.0%), 1000 facts/s, ETA 9s",
		"rebuild: 6000/10000 facts (60.0%), 1000 facts/s, ETA 4s",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c.add(4 * time.Second)
	m.Set(10000)
	m.Finish()
	m.Finish()
	m.Set(20000)
	got = lines(out)
	if last := got[len(got)-1]; last != "rebuild: 10000 facts in 10s, 1000 facts/s" || len(got) != 3 {
		t.Fatalf("after Finish: %q", got)
	}
}

// The rate follows the recent pace, not the average since the start.
func TestRateWindow(t *testing.T) {
	m, _, c := plainMeter(0)
	for i := range 30 { // 30 s at 100/s, then 30 s at 1000/s
		c.add(time.Second)
		m.Set(uint64(100 * (i + 1)))
	}
	for i := range 30 {
		c.add(time.Second)
		m.Set(3000 + uint64(1000*(i+1)))
	}
	if r := m.Rate(); r != 1000 {
		t.Fatalf("rate %v, want 1000", r)
	}
	if l := m.Line(); l != "rebuild: 33000 facts, 1000 facts/s" {
		t.Fatalf("without a total: %q", l)
	}
	m.SetTotal(43000)
	if l := m.Line(); l != "rebuild: 33000/43000 facts (76.7%), 1000 facts/s, ETA 10s" {
		t.Fatalf("with a total: %q", l)
	}
}

func TestNoRateYet(t *testing.T) {
	m, _, _ := plainMeter(500)
	if l := m.Line(); l != "rebuild: 0/500 facts (0.0%), 0 facts/s" {
		t.Fatalf("before any progress: %q", l)
	}
}

func TestTerminalBar(t *testing.T) {
	var b bytes.Buffer
	c := newClock()
	m := newMeter(&b, "rebuild", "facts", 1000, true, c.now)
	c.add(time.Second)
	m.Set(500)
	c.add(50 * time.Millisecond)
	m.Set(510) // within TerminalInterval: not drawn
	c.add(time.Second)
	m.Set(1000)
	m.Finish()
	s := b.String()
	draws := strings.Split(s, "\r")[1:]
	if len(draws) != 3 {
		t.Fatalf("%d draws, want 3: %q", len(draws), s)
	}
	if want := "rebuild [===============>              ]  50.0%  500/1000 facts  500 facts/s  ETA 1s"; draws[0] != want {
		t.Fatalf("first draw %q, want %q", draws[0], want)
	}
	if !strings.HasPrefix(draws[1], "rebuild [==============================] 100.0%  1000/1000 facts") {
		t.Fatalf("full bar %q", draws[1])
	}
	// The final line blanks out what is left of the longer bar line.
	final := strings.TrimRight(draws[2], " \n")
	if final != "rebuild: 1000 facts in 2.1s, 488 facts/s" || !strings.HasSuffix(draws[2], "\n") || len(draws[2]) < len(draws[1]) {
		t.Fatalf("final %q", draws[2])
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Fatal("a buffer is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Fatal("a file is not a terminal")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if IsTerminal(null) {
		t.Fatal("/dev/null is a character device, not a terminal")
	}
}
