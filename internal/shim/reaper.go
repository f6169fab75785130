package shim

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reaperKeep bounds how many exits nobody has claimed yet are remembered.
// They come from processes the shim learns the pid of only after they may
// have ended (a container or exec process named in a pid file) and from
// runtime helper processes reparented to the shim, which nobody claims.
const reaperKeep = 256

// reaper collects the exit of every child of the shim. The shim is a child
// subreaper, so processes the runtime forks and leaves behind (the container
// init, exec processes) become its children. One goroutine waits for SIGCHLD
// and calls wait4(-1, WNOHANG) until nothing is left; each exit goes to
// whoever registered the pid, or is kept until someone does. Nothing else in
// the shim may wait for children (no os/exec Wait), or exits would be lost.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan ExitStatus // guarded by mu
	exited  map[int]ExitStatus      // guarded by mu: exits not claimed yet
	order   []int                   // guarded by mu: pids in exited, oldest first
	sigs    chan os.Signal
}

func newReaper() *reaper {
	r := &reaper{
		waiters: make(map[int]chan ExitStatus),
		exited:  make(map[int]ExitStatus),
		sigs:    make(chan os.Signal, 1),
	}
	signal.Notify(r.sigs, syscall.SIGCHLD)
	go r.run()
	return r
}

func (r *reaper) run() {
	for range r.sigs {
		r.reap()
	}
}

// reap collects every exited child.
func (r *reaper) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if !ws.Exited() && !ws.Signaled() {
			continue
		}
		r.dispatch(pid, exitStatusOf(ws))
	}
}

func (r *reaper) dispatch(pid int, st ExitStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch, ok := r.waiters[pid]; ok {
		delete(r.waiters, pid)
		ch <- st
		return
	}
	r.exited[pid] = st
	r.order = append(r.order, pid)
	for len(r.order) > reaperKeep {
		delete(r.exited, r.order[0])
		r.order = r.order[1:]
	}
}

// start runs start (which forks a child and returns its pid) and registers
// the pid before the reaper can hand its exit to anyone else.
func (r *reaper) start(start func() (int, error)) (int, <-chan ExitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := start()
	if err != nil {
		return 0, nil, err
	}
	return pid, r.watchLocked(pid), nil
}

// watch returns a channel that receives pid's exit, including an exit that
// happened before the call.
func (r *reaper) watch(pid int) <-chan ExitStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watchLocked(pid)
}

func (r *reaper) watchLocked(pid int) <-chan ExitStatus {
	ch := make(chan ExitStatus, 1)
	if st, ok := r.exited[pid]; ok {
		delete(r.exited, pid)
		for i, p := range r.order {
			if p == pid {
				r.order = append(r.order[:i], r.order[i+1:]...)
				break
			}
		}
		ch <- st
		return ch
	}
	r.waiters[pid] = ch
	return ch
}

// exitStatusOf follows Docker: the exit status, or 128+signal.
func exitStatusOf(ws unix.WaitStatus) ExitStatus {
	st := ExitStatus{ExitedAt: time.Now().UTC()}
	if ws.Signaled() {
		st.Code = 128 + int(ws.Signal())
	} else {
		st.Code = ws.ExitStatus()
	}
	return st
}
