// Package progress reports how far a long job has got: done out of total,
// the rate and the time left. On a terminal it redraws one line with a bar;
// on anything else (a log file, a pipe) it writes a plain line now and then,
// so the output stays readable when captured.
//
//	m := progress.New(os.Stderr, "rebuild", "facts", total)
//	for ... { m.Set(done) }
//	m.Finish()
//
// A Meter is safe for concurrent use.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Defaults of Meter's intervals.
const (
	// TerminalInterval is how often a terminal line is redrawn at most.
	TerminalInterval = 200 * time.Millisecond
	// PlainInterval is how often a plain line is written at most.
	PlainInterval = 5 * time.Second
	// rateWindow is how far back the rate looks: long enough to smooth
	// batches, short enough to follow a change of pace.
	rateWindow = 10 * time.Second
	barWidth   = 30
)

// Meter tracks one job. Create it with New.
type Meter struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	unit     string
	tty      bool
	interval time.Duration
	now      func() time.Time

	total, done uint64
	start       time.Time
	last        time.Time // last line written
	samples     []sample  // (time, done) over the last rateWindow, oldest first
	finished    bool
	width       int // length of the last terminal line, to blank it out
}

type sample struct {
	at   time.Time
	done uint64
}

// New returns a Meter writing to w. label names the job ("rebuild"), unit
// what is counted ("facts"); total may be 0 when not known yet (SetTotal).
// Whether w is a terminal decides the style (see IsTerminal).
func New(w io.Writer, label, unit string, total uint64) *Meter {
	return newMeter(w, label, unit, total, IsTerminal(w), time.Now)
}

func newMeter(w io.Writer, label, unit string, total uint64, tty bool, now func() time.Time) *Meter {
	m := &Meter{w: w, label: label, unit: unit, tty: tty, total: total, now: now, interval: PlainInterval}
	if tty {
		m.interval = TerminalInterval
	}
	m.start = now()
	m.samples = []sample{{m.start, 0}}
	return m
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// SetTotal changes the total, for a job whose end moves (a log that grows).
func (m *Meter) SetTotal(total uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total = total
}

// Set records that done units are done, and writes a line if one is due.
func (m *Meter) Set(done uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished {
		return
	}
	now := m.now()
	m.done = done
	m.samples = append(m.samples, sample{now, done})
	// Keep one sample older than the window, so the rate spans all of it.
	for len(m.samples) > 2 && now.Sub(m.samples[1].at) >= rateWindow {
		m.samples = m.samples[1:]
	}
	if now.Sub(m.last) >= m.interval {
		m.write(now, false)
	}
}

// Finish writes the final line (the overall rate and the time taken) and
// ends a terminal line. Later calls do nothing.
func (m *Meter) Finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished {
		return
	}
	m.write(m.now(), true)
	m.finished = true
}

// Rate is the recent rate in units per second (0 before it is known).
func (m *Meter) Rate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rate()
}

func (m *Meter) rate() float64 {
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	d := last.at.Sub(first.at).Seconds()
	if d <= 0 || last.done < first.done {
		return 0
	}
	return float64(last.done-first.done) / d
}

// Line is the text of the current state without a bar, as a plain line
// shows it.
func (m *Meter) Line() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.plain(m.now(), false)
}

func (m *Meter) write(now time.Time, final bool) {
	m.last = now
	if !m.tty {
		fmt.Fprintln(m.w, m.plain(now, final))
		return
	}
	line := m.bar(now, final)
	pad := ""
	if n := m.width - len([]rune(line)); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	m.width = len([]rune(line))
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprint(m.w, "\r"+line+pad+end)
}

// plain is "rebuild: 4500/10000 facts (45.0%), 1200 facts/s, ETA 5s", and
// once finished "rebuild: 10000 facts in 8.3s, 1204 facts/s".
func (m *Meter) plain(now time.Time, final bool) string {
	if final {
		return fmt.Sprintf("%s: %d %s in %s, %s", m.label, m.done, m.unit, round(now.Sub(m.start)), m.overall(now))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d", m.label, m.done)
	if m.total > 0 {
		fmt.Fprintf(&b, "/%d %s (%.1f%%)", m.total, m.unit, m.percent())
	} else {
		fmt.Fprintf(&b, " %s", m.unit)
	}
	fmt.Fprintf(&b, ", %.0f %s/s", m.rate(), m.unit)
	if eta, ok := m.eta(); ok {
		fmt.Fprintf(&b, ", ETA %s", eta)
	}
	return b.String()
}

// bar is "rebuild [=======>      ]  45.0%  4500/10000 facts  1200 facts/s  ETA 5s".
func (m *Meter) bar(now time.Time, final bool) string {
	if final {
		return m.plain(now, true)
	}
	filled := 0
	if m.total > 0 {
		filled = int(min(m.percent(), 100) / 100 * barWidth)
	}
	bar := strings.Repeat("=", filled)
	if filled < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-filled-1)
	}
	s := fmt.Sprintf("%s [%s] %5.1f%%  %d/%d %s  %.0f %s/s", m.label, bar, m.percent(), m.done, m.total, m.unit, m.rate(), m.unit)
	if eta, ok := m.eta(); ok {
		s += "  ETA " + eta.String()
	}
	return s
}

func (m *Meter) percent() float64 {
	if m.total == 0 {
		return 0
	}
	return float64(m.done) / float64(m.total) * 100
}

// eta is the time left at the recent rate, if both are known.
func (m *Meter) eta() (time.Duration, bool) {
	r := m.rate()
	if m.total == 0 || r <= 0 {
		return 0, false
	}
	if m.done >= m.total {
		return 0, true
	}
	return round(time.Duration(float64(m.total-m.done) / r * float64(time.Second))), true
}

func (m *Meter) overall(now time.Time) string {
	d := now.Sub(m.start).Seconds()
	if d <= 0 {
		return "rate unknown"
	}
	return fmt.Sprintf("%.0f %s/s", float64(m.done)/d, m.unit)
}

// round shortens a duration for display: whole seconds from 10s on.
func round(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}
