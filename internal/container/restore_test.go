package container

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"berth/internal/events"
	bnet "berth/internal/network"
	"berth/internal/shim"
)

// detachImages unmounts as the image service does: whatever is mounted
// at the target, if anything.
type detachImages struct{ Images }

func (detachImages) UnmountRootfs(_ context.Context, target string) error {
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// Bundles of containers that are gone are removed at restore, unless a
// shim still works in them; a rootfs still mounted there is unmounted
// first, never emptied through the mount.
func TestRemoveOrphanBundles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a bundle's rootfs is bind-mounted")
	}
	state := t.TempDir()
	db, err := bolt.Open(filepath.Join(state, "berth.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := New(Config{DB: db, DataRoot: filepath.Join(state, "data"), ExecRoot: filepath.Join(state, "exec"),
		Images: detachImages{}, Events: events.New()})
	must(t, err)
	t.Cleanup(s.Close)

	known, mounted, plain, live := strings.Repeat("ab", 32), strings.Repeat("cd", 32), strings.Repeat("ef", 32), strings.Repeat("12", 32)
	for _, id := range []string{known, mounted, plain, live} {
		must(t, os.MkdirAll(filepath.Join(s.execDir(id), "rootfs"), 0o710))
	}
	precious := t.TempDir()
	must(t, os.WriteFile(filepath.Join(precious, "keep"), []byte("x"), 0o600))
	rootfs := filepath.Join(s.execDir(mounted), "rootfs")
	must(t, unix.Mount(precious, rootfs, "", unix.MS_BIND, ""))
	t.Cleanup(func() { _ = unix.Unmount(rootfs, unix.MNT_DETACH) })
	must(t, os.MkdirAll(filepath.Dir(s.shimSocket(live)), 0o700))
	must(t, os.WriteFile(s.shimSocket(live), nil, 0o600))

	s.removeOrphanBundles(context.Background(), map[string]bool{known: true})

	for id, want := range map[string]bool{known: true, live: true, mounted: false, plain: false} {
		if _, err := os.Stat(s.execDir(id)); (err == nil) != want {
			t.Errorf("bundle %s: present %v, want %v", id[:4], err == nil, want)
		}
	}
	if _, err := os.Stat(filepath.Join(precious, "keep")); err != nil {
		t.Fatalf("a file under a mounted rootfs was removed: %v", err)
	}
}

// sandboxOnly is a network service that knows one container's sandbox.
type sandboxOnly struct {
	Networks
	id  string
	res *bnet.AttachResult
}

func (n sandboxOnly) Sandbox(id string) (*bnet.AttachResult, bool) {
	return n.res, id == n.id
}

// listenAsShim answers the shim protocol as a shim whose container runs:
// "state" with pid, and any other request held open until the client goes.
// Enough for a reconnect; no runtime is involved.
func listenAsShim(t *testing.T, socket string, pid int) {
	must(t, os.MkdirAll(filepath.Dir(socket), 0o700))
	l, err := net.Listen("unix", socket)
	must(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				var req shim.Request
				if json.NewDecoder(conn).Decode(&req) != nil {
					return
				}
				if req.Op != "state" {
					_, _ = io.Copy(io.Discard, conn)
					return
				}
				_ = json.NewEncoder(conn).Encode(shim.Response{State: &shim.State{Status: shim.StatusRunning, Pid: pid, ShimPid: pid}})
			}()
		}
	}()
}

// A container whose start was not saved yet when berthd died comes back
// running with what the start gave it: its published ports, addresses and
// namespace, from the network service's record, and the restart policy's
// state of a start by hand.
func TestReconnectUnsavedStart(t *testing.T) {
	state := t.TempDir()
	db, err := bolt.Open(filepath.Join(state, "berth.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	id := strings.Repeat("9a", 32)
	sandbox := &bnet.AttachResult{
		NetNSPath: "/run/berth/netns/" + id[:12],
		Endpoints: map[string]*network.EndpointSettings{"bridge": {NetworkID: "n1", IPAddress: netip.MustParseAddr("172.17.0.2")}},
		Ports:     network.PortMap{network.MustParsePort("80/tcp"): {{HostIP: netip.IPv4Unspecified(), HostPort: "8080"}}},
	}
	s, err := New(Config{DB: db, DataRoot: filepath.Join(state, "data"), ExecRoot: filepath.Join(state, "exec"),
		Networks: sandboxOnly{id: id, res: sandbox}, Events: events.New()})
	must(t, err)
	t.Cleanup(s.Close)
	c := newContainer()
	c.ID, c.Name = id, "/web"
	c.Config, c.HostConfig = &container.Config{}, &container.HostConfig{}
	// Stopped by hand, then started by hand: the start's save is lost.
	c.State = State{Status: container.StateExited, ExitCode: 137}
	c.ManuallyStopped, c.RestartCount = true, 3
	c.Networks = map[string]*network.EndpointSettings{"bridge": {}}
	must(t, s.store.add(c))
	socket := s.shimSocket(id)
	listenAsShim(t, socket, os.Getpid())

	s.reconnect(context.Background(), c, socket)

	// What a later restart reads back.
	saved, err := newStore(db)
	must(t, err)
	cs, err := saved.load()
	must(t, err)
	if len(cs) != 1 {
		t.Fatalf("%d containers saved, want 1", len(cs))
	}
	got := cs[0]
	if !got.State.Running() || got.State.Pid != os.Getpid() {
		t.Errorf("state %+v, want running with the shim's pid %d", got.State, os.Getpid())
	}
	// Read twice, the process's start differs by the time between the
	// two clock readings: microseconds.
	if want, err := processStartTime(os.Getpid()); err != nil || got.State.StartedAt.Sub(want).Abs() > time.Millisecond {
		t.Errorf("started at %s, want the process's start %s (%v)", got.State.StartedAt, want, err)
	}
	if got.ManuallyStopped || got.RestartCount != 0 {
		t.Errorf("manually stopped %v, restart count %d: want the start's false and 0", got.ManuallyStopped, got.RestartCount)
	}
	if got.SandboxKey != sandbox.NetNSPath {
		t.Errorf("sandbox key %q, want %q", got.SandboxKey, sandbox.NetNSPath)
	}
	if b := got.Ports[network.MustParsePort("80/tcp")]; len(b) != 1 || b[0].HostPort != "8080" {
		t.Errorf("ports %v, want 80/tcp on 8080", got.Ports)
	}
	if ep := got.Networks["bridge"]; ep == nil || ep.IPAddress != netip.MustParseAddr("172.17.0.2") {
		t.Errorf("bridge endpoint %+v, want the address 172.17.0.2", ep)
	}
}
