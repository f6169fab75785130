package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// threadNetNS names the network namespace of the calling OS thread. It must
// be used only while the goroutine is locked to its thread.
const threadNetNS = "/proc/thread-self/ns/net"

// CreateNetNS makes a new network namespace with lo up, pinned by a bind
// mount at path (parent dirs made). The path must not exist yet.
func CreateNetNS(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create netns %s: %w", path, err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o444)
	if err != nil {
		return fmt.Errorf("create netns %s: %w", path, &os.PathError{Op: "open", Path: path, Err: err})
	}
	unix.Close(fd)

	err = onNetNSThread(
		func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("unshare network namespace: %w", err)
			}
			return nil
		},
		func() error {
			if err := unix.Mount(threadNetNS, path, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("pin network namespace at %s: %w", path, err)
			}
			return loopbackUp()
		})
	if err != nil {
		// Undo the pin (if made) and the file; the namespace dies with its
		// last reference.
		_ = unix.Unmount(path, unix.MNT_DETACH)
		_ = os.Remove(path)
		return fmt.Errorf("create netns %s: %w", path, err)
	}
	return nil
}

// loopbackUp brings up lo in the calling thread's network namespace. A new
// namespace always gives lo the index 1, which saves a lookup.
func loopbackUp() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer h.Close()
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1}}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// DeleteNetNS unpins and removes path; a missing path is not an error. The
// namespace itself goes when nothing else (a process, an open handle) holds it.
func DeleteNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unpin netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}

// InNetNS runs fn on a locked OS thread switched into the namespace at path,
// then switches back.
//
// fn runs on a goroutine of its own, locked to its thread, and InNetNS waits
// for it; a panic in fn is raised again in the caller. Goroutines that fn
// starts do not inherit the namespace, but sockets fn opens stay in it. If the
// thread cannot be switched back it stays locked, so the Go runtime discards
// it instead of reusing it for other goroutines.
func InNetNS(path string, fn func() error) error {
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", path, &os.PathError{Op: "open", Path: path, Err: err})
	}
	defer unix.Close(target)
	return onNetNSThread(func() error {
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter netns %s: %w", path, err)
		}
		return nil
	}, fn)
}

// onNetNSThread runs enter and then (if enter succeeded) fn on a fresh
// goroutine locked to its OS thread, and finally returns the thread to the
// network namespace it started in. enter may leave the thread in another
// namespace, even when it fails.
func onNetNSThread(enter, fn func() error) error {
	type result struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open(threadNetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("open current netns: %w", err)}
			return
		}
		defer unix.Close(orig)

		var res result
		func() {
			defer func() {
				if v := recover(); v != nil {
					res.panicked, res.value = true, v
				}
			}()
			if res.err = enter(); res.err == nil {
				res.err = fn()
			}
		}()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// The thread is stuck in the wrong namespace. Leaving it locked
			// makes the runtime end it when this goroutine exits.
			res.err = errors.Join(res.err, fmt.Errorf("return to the original netns: %w", err))
			done <- res
			return
		}
		runtime.UnlockOSThread()
		done <- res
	}()
	res := <-done
	if res.panicked {
		panic(res.value)
	}
	return res.err
}
