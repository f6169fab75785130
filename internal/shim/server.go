package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// maxRequest bounds a request line (an exec's process spec included).
const maxRequest = 1 << 20

// execKeep bounds how many finished execs are remembered for exec-wait.
const execKeep = 256

// serve accepts connections until the listener closes. Each connection
// carries one request.
func (s *shim) serve(l *os.File) {
	for {
		conn, err := acceptUnix(l)
		if err != nil {
			if errors.Is(err, errListenerClosed) {
				return
			}
			s.log.Error("accept", "error", err)
			continue
		}
		s.handlers.Add(1)
		go func() {
			defer s.handlers.Done()
			s.handle(conn)
		}()
	}
}

// handle reads the request line and runs it. Streaming ops (attach, exec)
// hand conn on; every other op closes it after the response.
func (s *shim) handle(conn *os.File) {
	br := bufio.NewReader(conn)
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		buf := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(buf) < maxRequest {
			line, err = br.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil {
		conn.Close()
		return
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		respond(conn, Response{Error: "bad request: " + err.Error()})
		conn.Close()
		return
	}
	ctx := context.Background()
	var resp Response
	switch req.Op {
	case "state":
		st := s.stateSnapshot()
		resp = Response{Pid: st.Pid, State: &st}
	case "start":
		resp = errResponse(s.start(ctx))
	case "wait":
		resp = s.wait(conn, br)
	case "kill":
		if req.ExecID != "" {
			resp = errResponse(s.killExec(req.ExecID, req.Signal))
		} else {
			resp = errResponse(s.kill(ctx, req.Signal, req.All))
		}
	case "attach":
		// Input only when the container was made with it (docker run -i).
		// The response line goes out through the client's own writer, after
		// it is registered for output.
		s.init.attach(conn, br, req.Stdin && s.cfg.OpenStdin, req.Stdout, req.Stderr, responseLine(Response{Pid: s.init.pid}))
		return
	case "resize":
		resp = errResponse(s.resize(req.ExecID, req.Height, req.Width))
	case "exec":
		s.exec(ctx, conn, br, &req)
		return
	case "exec-wait":
		resp = s.execWait(conn, br, req.ExecID)
	case "shutdown":
		resp = errResponse(s.shutdown())
	default:
		resp = Response{Error: fmt.Sprintf("unknown op %q", req.Op)}
	}
	respond(conn, resp)
	conn.Close()
}

func respond(conn *os.File, resp Response) error {
	_, err := conn.Write(responseLine(resp))
	return err
}

// responseLine is resp as the one JSON line the protocol sends.
func responseLine(resp Response) []byte {
	b, err := json.Marshal(resp)
	if err != nil {
		b, _ = json.Marshal(Response{Error: err.Error()})
	}
	return append(b, '\n')
}

func errResponse(err error) Response {
	if err != nil {
		return Response{Error: err.Error()}
	}
	return Response{}
}

// clientGone returns a channel closed when the client closes its end: a
// waiting request needs no answer then.
func clientGone(br *bufio.Reader) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		var b [1]byte
		for {
			if _, err := br.Read(b[:]); err != nil {
				close(ch)
				return
			}
		}
	}()
	return ch
}

func (s *shim) start(ctx context.Context) error {
	s.mu.Lock()
	status := s.status
	if status == StatusCreated {
		s.status = StatusRunning
	}
	s.mu.Unlock()
	if status != StatusCreated {
		return fmt.Errorf("container %s is %s, not created", s.cfg.ID, status)
	}
	// The runtime already runs the process (create used `run --detach`):
	// starting means letting its output flow.
	s.release()
	close(s.started)
	return nil
}

func (s *shim) wait(conn *os.File, br *bufio.Reader) Response {
	select {
	case <-s.stopped:
	case <-clientGone(br):
		return Response{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := *s.exit
	return Response{Pid: s.init.pid, Exit: &st}
}

func (s *shim) kill(ctx context.Context, sig int, all bool) error {
	s.mu.Lock()
	exited := s.initExited
	s.mu.Unlock()
	if exited {
		return fmt.Errorf("container %s is not running", s.cfg.ID)
	}
	if sig <= 0 {
		sig = int(syscall.SIGKILL)
	}
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	args = append(args, s.cfg.ID, strconv.Itoa(sig))
	return s.rt.run(ctx, runtimeIO{}, args...)
}

// killExec signals one exec'd process (a health probe past its timeout).
// Its pid is the shim's own child, reaped by the shim, so it cannot have
// been reused while the exec is still listed.
func (s *shim) killExec(execID string, sig int) error {
	s.mu.Lock()
	p := s.execs[execID]
	s.mu.Unlock()
	if p == nil || p.pid <= 0 {
		return fmt.Errorf("no such exec: %s", execID)
	}
	if sig <= 0 {
		sig = int(syscall.SIGKILL)
	}
	return syscall.Kill(p.pid, syscall.Signal(sig))
}

func (s *shim) resize(execID string, height, width uint16) error {
	p := s.init
	if execID != "" {
		s.mu.Lock()
		p = s.execs[execID]
		s.mu.Unlock()
		if p == nil {
			return fmt.Errorf("no such exec: %s", execID)
		}
	}
	if !p.tty || p.console == nil {
		return errors.New("the process has no terminal")
	}
	select {
	case <-p.exited:
		return errors.New("the process has exited")
	default:
	}
	return setWinsize(p.console, height, width)
}

func (s *shim) shutdown() error {
	s.mu.Lock()
	status := s.status
	s.mu.Unlock()
	if status != StatusStopped {
		return fmt.Errorf("container %s is %s", s.cfg.ID, status)
	}
	s.finish()
	return nil
}

// validExecID keeps exec ids usable in file names.
func validExecID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return id[0] != '.'
}

// exec runs `runtime exec --detach` for req. It answers the client itself,
// then hands conn on as the exec's stream or closes it.
func (s *shim) exec(ctx context.Context, conn *os.File, br *bufio.Reader, req *Request) {
	fail := func(err error) {
		respond(conn, Response{Error: err.Error()})
		conn.Close()
	}
	if !validExecID(req.ExecID) {
		fail(fmt.Errorf("invalid exec id %q", req.ExecID))
		return
	}
	if req.Process == nil {
		fail(errors.New("exec: no process"))
		return
	}
	tty := req.Process.Terminal
	p, err := newProcess(req.ExecID, tty, !req.Detach && !req.NoStdin, true)
	if err != nil {
		fail(err)
		return
	}
	s.mu.Lock()
	switch {
	case s.initExited:
		s.mu.Unlock()
		p.closeChildEnds()
		p.closeAll()
		fail(fmt.Errorf("container %s is not running", s.cfg.ID))
		return
	case s.execs[req.ExecID] != nil:
		s.mu.Unlock()
		p.closeChildEnds()
		p.closeAll()
		fail(fmt.Errorf("exec %s already exists", req.ExecID))
		return
	}
	s.execs[req.ExecID] = p
	s.mu.Unlock()

	pid, err := s.runExec(ctx, p, req)
	if err != nil {
		s.mu.Lock()
		delete(s.execs, req.ExecID)
		s.mu.Unlock()
		fail(fmt.Errorf("OCI runtime exec failed: %w", err))
		return
	}
	p.pid = pid
	exited := s.rt.reaper.watch(pid)
	if err := respond(conn, Response{Pid: pid}); err != nil || req.Detach {
		conn.Close()
	} else {
		p.attach(conn, br, true, true, true, nil)
	}
	p.startPumps(nil, nil)
	go s.monitorExec(p, exited)
}

// runExec writes the process spec and runs the runtime; it returns the
// exec's host pid.
func (s *shim) runExec(ctx context.Context, p *process, req *Request) (int, error) {
	base := filepath.Join(s.cfg.Bundle, ".exec-"+req.ExecID)
	specFile, pidFile := base+".json", base+".pid"
	defer os.Remove(specFile)
	defer os.Remove(pidFile)
	spec, err := json.Marshal(req.Process)
	if err != nil {
		p.closeChildEnds()
		p.closeAll()
		return 0, err
	}
	if err := os.WriteFile(specFile, spec, 0o600); err != nil {
		p.closeChildEnds()
		p.closeAll()
		return 0, err
	}
	args := []string{"exec", "--detach", "--pid-file", pidFile, "--process", specFile}
	if p.consock != nil {
		args = append(args, "--console-socket", p.consock.path)
	}
	args = append(args, s.cfg.ID)
	child := p.child
	if req.Detach && !p.tty {
		// Docker discards a detached exec's output.
		child.stdout, child.stderr = nil, nil
	}
	err = s.rt.run(ctx, child, args...)
	if err == nil {
		err = p.receiveConsole()
	}
	p.closeChildEnds()
	if err == nil && req.Detach && !p.tty {
		// No output can come: the pipes' write ends were not handed on.
		p.stdoutR.Close()
		p.stderrR.Close()
	}
	if err != nil {
		p.closeAll()
		return 0, err
	}
	pid, err := readPidFile(pidFile)
	if err != nil {
		p.closeAll()
		return 0, err
	}
	return pid, nil
}

// monitorExec records an exec's exit once its output has drained.
func (s *shim) monitorExec(p *process, exited <-chan ExitStatus) {
	st := <-exited
	p.drain()
	p.closeAll()
	p.exit = st
	close(p.exited)
	p.out.wait()
	s.pruneExecs()
}

// pruneExecs forgets the oldest finished execs beyond execKeep.
func (s *shim) pruneExecs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.execs) <= execKeep {
		return
	}
	var oldest *process
	for _, p := range s.execs {
		select {
		case <-p.exited:
			if oldest == nil || p.exit.ExitedAt.Before(oldest.exit.ExitedAt) {
				oldest = p
			}
		default:
		}
	}
	if oldest != nil {
		delete(s.execs, oldest.id)
	}
}

func (s *shim) execWait(conn *os.File, br *bufio.Reader, execID string) Response {
	s.mu.Lock()
	p := s.execs[execID]
	s.mu.Unlock()
	if p == nil {
		return Response{Error: fmt.Sprintf("no such exec: %s", execID)}
	}
	select {
	case <-p.exited:
		st := p.exit
		return Response{Pid: p.pid, Exit: &st}
	case <-s.stopped:
		// Without a pid namespace an exec can outlive the init; the shim
		// reports it killed with the container.
		select {
		case <-p.exited:
			st := p.exit
			return Response{Pid: p.pid, Exit: &st}
		default:
		}
		st := *s.stateSnapshot().Exit
		st.Code = 128 + int(syscall.SIGKILL)
		return Response{Pid: p.pid, Exit: &st}
	case <-clientGone(br):
		return Response{}
	}
}
