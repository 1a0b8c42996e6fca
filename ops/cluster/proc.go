package cluster

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is one child process of a cluster: a program with its arguments,
// environment and log file, which can be stopped, killed and started again
// on the same addresses.
type Proc struct {
	// Name is the process's name in the cluster: gateway-1, validator-2, nats-3…
	Name string
	// Addr is the host:port of its HTTP endpoints: the gateway's API, the
	// validator's and projector's /health, /ready and /metrics, nginx's
	// front, NATS's monitoring.
	Addr string
	// Pprof is the host:port of a service's Go profiles (/debug/pprof/);
	// empty for nginx and NATS.
	Pprof string
	// URL is a NATS node's client URL, nats://host:port; empty for the
	// other processes.
	URL string
	// Log is the file its standard output and error go to.
	Log string

	bin       string
	args      []string
	env       []string
	readyPath string
	output    io.Writer // a copy of the output, if any
	onExit    func(p *Proc, state *os.ProcessState)

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when the current run has ended
	state    *os.ProcessState
	stopping bool // the current run is being ended on purpose
}

// Start runs the program. It may be called again once a run has ended.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.state == nil {
		return fmt.Errorf("%s is running", p.Name)
	}
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s log: %w", p.Name, err)
	}
	var out io.Writer = f
	if p.output != nil {
		out = io.MultiWriter(f, &prefixWriter{w: p.output, prefix: p.Name + " | "})
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group: a Ctrl-C in the terminal reaches the
		// cluster runner only, which stops the processes in order.
		Setpgid: true,
		// Stopped (gracefully) if the runner dies without stopping it.
		Pdeathsig: syscall.SIGTERM,
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.state, p.stopping = cmd, done, nil, false
	go func() {
		_ = cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.state = cmd.ProcessState
		stopping := p.stopping
		p.mu.Unlock()
		close(done)
		if !stopping && p.onExit != nil {
			p.onExit(p, cmd.ProcessState)
		}
	}()
	return nil
}

// PID is the process id of the current (or last) run, 0 before any.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the current run has not ended.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && p.state == nil
}

// Signal sends sig to the running process, as an intended stop: its exit is
// not reported as unexpected.
func (p *Proc) Signal(sig os.Signal) error { return p.signal(sig, true) }

// Pause freezes the running process (SIGSTOP) until Resume: it holds its
// connections and answers nothing, as a machine that hangs. A paused
// process cannot stop gracefully; Stop kills it after its timeout.
func (p *Proc) Pause() error { return p.signal(syscall.SIGSTOP, false) }

// Resume lets a paused process run on (SIGCONT).
func (p *Proc) Resume() error { return p.signal(syscall.SIGCONT, false) }

func (p *Proc) signal(sig os.Signal, stop bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.state != nil {
		return fmt.Errorf("%s is not running", p.Name)
	}
	if stop {
		p.stopping = true
	}
	return p.cmd.Process.Signal(sig)
}

// Wait waits at most timeout for the current run to end and returns how it
// ended.
func (p *Proc) Wait(timeout time.Duration) (*os.ProcessState, error) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return nil, fmt.Errorf("%s never started", p.Name)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		return nil, fmt.Errorf("%s still running after %s", p.Name, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, nil
}

// Stop ends the process gracefully: SIGTERM, then at most timeout for it to
// exit. A process that does not is killed, and Stop returns an error saying
// so; so does one that exits with a failure status.
func (p *Proc) Stop(timeout time.Duration) error {
	if !p.Running() {
		return nil
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		if !p.Running() {
			return nil
		}
		return err
	}
	state, err := p.Wait(timeout)
	if err != nil {
		_ = p.Signal(syscall.SIGKILL)
		_, _ = p.Wait(timeout)
		return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed", p.Name, timeout)
	}
	if !state.Success() {
		return fmt.Errorf("%s stopped with %s", p.Name, state)
	}
	return nil
}

// LogTail returns the last n lines of the process's log.
func (p *Proc) LogTail(n int) string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// prefixWriter writes whole lines to w, each after prefix.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (pw *prefixWriter) Write(b []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.buf = append(pw.buf, b...)
	for {
		i := bytes.IndexByte(pw.buf, '\n')
		if i < 0 {
			break
		}
		if _, err := io.WriteString(pw.w, pw.prefix+string(pw.buf[:i+1])); err != nil {
			return len(b), err
		}
		pw.buf = pw.buf[i+1:]
	}
	return len(b), nil
}
