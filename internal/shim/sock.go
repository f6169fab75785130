package shim

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The shim speaks on unix sockets through x/sys/unix and os.File rather than
// package net: net links libc's resolver through cgo, which alone costs the
// shim over a megabyte of resident memory. Non-blocking descriptors wrapped
// by os.NewFile go through the runtime's poller like net's do.

// listenUnix listens on a new unix socket at path, replacing a stale one,
// with the mode that umask leaves (callers set 0077 for 0600).
func listenUnix(path string) (*os.File, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind %s: %w", path, err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		os.Remove(path)
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// errListenerClosed is what acceptUnix returns once the listener is closed.
var errListenerClosed = errors.New("listener closed")

// acceptUnix waits for the next connection on l.
func acceptUnix(l *os.File) (*os.File, error) {
	raw, err := l.SyscallConn()
	if err != nil {
		return nil, errListenerClosed
	}
	nfd := -1
	var acceptErr error
	err = raw.Read(func(fd uintptr) bool {
		nfd, _, acceptErr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
		return !errors.Is(acceptErr, unix.EAGAIN) && !errors.Is(acceptErr, unix.EINTR)
	})
	if err != nil {
		return nil, errListenerClosed
	}
	if acceptErr != nil {
		return nil, fmt.Errorf("accept: %w", acceptErr)
	}
	return os.NewFile(uintptr(nfd), "conn"), nil
}

// recvFd receives one message carrying descriptors on conn and returns the
// first descriptor (close-on-exec); others are closed.
func recvFd(conn *os.File) (int, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	var oobn int
	var recvErr error
	err = raw.Read(func(fd uintptr) bool {
		_, oobn, _, _, recvErr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return !errors.Is(recvErr, unix.EAGAIN) && !errors.Is(recvErr, unix.EINTR)
	})
	if err == nil {
		err = recvErr
	}
	if err != nil {
		return -1, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return -1, err
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	if len(fds) == 0 {
		return -1, errors.New("no file descriptor received")
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	return fds[0], nil
}
