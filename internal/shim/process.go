package shim

import (
	"bufio"
	"io"
	"os"
	"sync"
	"time"
)

// process is the stdio of one process the shim started through the runtime:
// the container's init or an exec. Without a terminal the shim holds the
// read ends of stdout/stderr pipes and the write end of a stdin pipe; with
// one it holds the pty master the runtime sent over the console socket.
type process struct {
	id        string // exec id; "" for the init
	tty       bool
	stdinOnce bool
	out       *output

	// Ends handed to the runtime; closed by closeChildEnds once it ran.
	child   runtimeIO
	consock *consoleSocket

	// The shim's ends. console and stdin are written by attach clients.
	console   *os.File // pty master, tty only
	stdoutR   *os.File
	stderrR   *os.File
	stdinMu   sync.Mutex
	stdin     *os.File // guarded by stdinMu; nil when closed or never opened
	pumpsDone chan struct{}
	exited    chan struct{} // closed once exit is set
	exit      ExitStatus
	pid       int
}

// newProcess prepares stdio: pipes, or a console socket with tty. withStdin
// gives the process a stdin pipe (a pty always carries input).
func newProcess(id string, tty, withStdin, stdinOnce bool) (*process, error) {
	p := &process{
		id: id, tty: tty, stdinOnce: stdinOnce, out: newOutput(tty),
		pumpsDone: make(chan struct{}), exited: make(chan struct{}),
	}
	var err error
	if tty {
		if p.consock, err = newConsoleSocket(); err != nil {
			return nil, err
		}
		return p, nil
	}
	defer func() {
		if err != nil {
			p.closeChildEnds()
			p.closeAll()
		}
	}()
	if withStdin {
		if p.child.stdin, p.stdin, err = os.Pipe(); err != nil {
			return nil, err
		}
	}
	if p.stdoutR, p.child.stdout, err = os.Pipe(); err != nil {
		return nil, err
	}
	if p.stderrR, p.child.stderr, err = os.Pipe(); err != nil {
		return nil, err
	}
	return p, nil
}

// closeChildEnds drops the shim's copies of the ends the runtime passed on,
// so that EOF comes when the process (and its children) close theirs.
func (p *process) closeChildEnds() {
	for _, f := range []*os.File{p.child.stdin, p.child.stdout, p.child.stderr} {
		if f != nil {
			f.Close()
		}
	}
	p.child = runtimeIO{}
	if p.consock != nil {
		p.consock.close()
	}
}

// receiveConsole takes the pty master once the runtime succeeded.
func (p *process) receiveConsole() error {
	if p.consock == nil {
		return nil
	}
	m, err := p.consock.master(consoleTimeout)
	if err != nil {
		return err
	}
	p.console = m
	return nil
}

// startPumps copies output to the log streams (nil: none) and the clients.
// With a terminal everything is stdout.
func (p *process) startPumps(logOut, logErr io.WriteCloser) {
	var wg sync.WaitGroup
	run := func(r *os.File, stream byte, sink io.WriteCloser) {
		if r == nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if sink != nil {
				defer sink.Close()
				pump(r, stream, sink, p.out)
			} else {
				pump(r, stream, nil, p.out)
			}
		}()
	}
	if p.tty {
		run(p.console, streamStdout, logOut)
	} else {
		run(p.stdoutR, streamStdout, logOut)
		run(p.stderrR, streamStderr, logErr)
	}
	go func() {
		wg.Wait()
		p.out.finish()
		close(p.pumpsDone)
	}()
}

// drain waits for the output to end after the process exited, giving up
// after drainTimeout (something outside the container may hold the pipes).
func (p *process) drain() {
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-p.pumpsDone:
		return
	case <-t.C:
	}
	// Unblock the pumps' reads.
	for _, f := range []*os.File{p.stdoutR, p.stderrR, p.console} {
		if f != nil {
			f.Close()
		}
	}
	<-p.pumpsDone
}

// attach connects conn: output on the requested streams, and input (if
// stdin) to the process. br holds what the client sent after its request;
// pre is written to conn before any output.
func (p *process) attach(conn *os.File, br *bufio.Reader, stdin, stdout, stderr bool, pre []byte) {
	if p.tty {
		stderr = false
	}
	p.out.add(conn, stdout, stderr, pre)
	if !stdin {
		return
	}
	go func() {
		var dst io.Writer = io.Discard
		if p.tty {
			dst = p.console
		} else if w := p.stdinFile(); w != nil {
			dst = w
		}
		io.Copy(dst, br)
		// The client half-closed (or went away).
		if p.stdinOnce {
			p.closeStdin()
		}
	}()
}

func (p *process) stdinFile() *os.File {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	return p.stdin
}

// closeStdin closes the process's stdin pipe (no-op with a terminal).
func (p *process) closeStdin() {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
	}
}

// closeAll releases the shim's ends once the process is gone.
func (p *process) closeAll() {
	p.closeStdin()
	for _, f := range []*os.File{p.stdoutR, p.stderrR, p.console} {
		if f != nil {
			f.Close()
		}
	}
}
