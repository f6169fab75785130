package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"

	"berth/internal/cli/command"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	"golang.org/x/sys/unix"
)

// defaultEscapeKeys returns ctrl-p, ctrl-q.
func defaultEscapeKeys() []byte { return []byte{16, 17} }

// hijackedIOStreamer copies between the local streams and a hijacked
// attach/exec connection: raw output with a TTY, stdcopy demultiplexing
// without one, and stdin through an escape-key detector.
type hijackedIOStreamer struct {
	cli          *command.Cli
	inputStream  io.ReadCloser
	outputStream io.Writer
	errorStream  io.Writer
	resp         client.HijackedResponse
	tty          bool
	detachKeys   string
}

// stream runs until output ends, input ends and output drains, the user
// types the detach keys (term.EscapeError) or ctx is cancelled.
func (h *hijackedIOStreamer) stream(ctx context.Context) error {
	restoreInput, err := h.setupInput()
	if err != nil {
		return fmt.Errorf("unable to setup input stream: %w", err)
	}
	defer restoreInput()

	outputDone := h.beginOutputStream(restoreInput)
	inputDone, detached := h.beginInputStream(restoreInput)

	select {
	case err := <-outputDone:
		return err
	case <-inputDone:
		if h.outputStream != nil || h.errorStream != nil {
			select {
			case err := <-outputDone:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	case err := <-detached:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hijackedIOStreamer) setupInput() (func(), error) {
	if h.inputStream == nil || !h.tty {
		return func() {}, nil
	}
	if err := h.cli.In().SetRawTerminal(); err != nil {
		return nil, fmt.Errorf("unable to set IO streams as raw terminal: %w", err)
	}
	if err := h.cli.Out().SetRawTerminal(); err != nil {
		h.cli.In().RestoreTerminal()
		return nil, fmt.Errorf("unable to set IO streams as raw terminal: %w", err)
	}
	var once sync.Once
	restore := func() {
		once.Do(func() {
			h.cli.Out().RestoreTerminal()
			h.cli.In().RestoreTerminal()
		})
	}
	keys := defaultEscapeKeys()
	if h.detachKeys != "" {
		if k, err := term.ToBytes(h.detachKeys); err == nil {
			keys = k
		} else {
			fmt.Fprintf(h.cli.Err(), "invalid detach escape keys, using default: %s\n", err)
		}
	}
	h.inputStream = readCloser{Reader: term.NewEscapeProxy(h.inputStream, keys), Closer: h.inputStream}
	return restore, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

func (h *hijackedIOStreamer) beginOutputStream(restoreInput func()) <-chan error {
	if h.outputStream == nil && h.errorStream == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() {
		var err error
		if h.outputStream != nil && h.tty {
			_, err = io.Copy(h.outputStream, h.resp.Reader)
			restoreInput()
		} else {
			out, errw := h.outputStream, h.errorStream
			if out == nil {
				out = io.Discard
			}
			if errw == nil {
				errw = io.Discard
			}
			_, err = stdcopy.StdCopy(out, errw, h.resp.Reader)
		}
		done <- err
	}()
	return done
}

func (h *hijackedIOStreamer) beginInputStream(restoreInput func()) (<-chan struct{}, <-chan error) {
	inputDone := make(chan struct{})
	detached := make(chan error, 1)
	go func() {
		if h.inputStream != nil {
			_, err := io.Copy(h.resp.Conn, h.inputStream)
			restoreInput()
			var esc term.EscapeError
			if errors.As(err, &esc) {
				detached <- err
				return
			}
		}
		_ = h.resp.CloseWrite()
		close(inputDone)
	}()
	return inputDone, detached
}

// isEscape reports whether err is the detach-keys signal.
func isEscape(err error) bool {
	var esc term.EscapeError
	return errors.As(err, &esc)
}

// resizer sends the terminal size to a container or an exec.
type resizer func(ctx context.Context, height, width uint) error

func containerResizer(api client.APIClient, id string) resizer {
	return func(ctx context.Context, h, w uint) error {
		_, err := api.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: h, Width: w})
		return err
	}
}

func execResizer(api client.APIClient, id string) resizer {
	return func(ctx context.Context, h, w uint) error {
		_, err := api.ExecResize(ctx, id, client.ExecResizeOptions{Height: h, Width: w})
		return err
	}
}

// monitorTtySize sends the current size now and on every SIGWINCH until
// ctx ends.
func monitorTtySize(ctx context.Context, cli *command.Cli, resize resizer) error {
	send := func() error {
		h, w := cli.Out().TtySize()
		if h == 0 && w == 0 {
			return nil
		}
		return resize(ctx, h, w)
	}
	if err := send(); err != nil {
		return err
	}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, unix.SIGWINCH)
	go func() {
		defer signal.Stop(sigc)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sigc:
				_ = send()
			}
		}
	}()
	return nil
}

// forwardSignals relays every catchable signal the CLI receives to the
// container with ContainerKill, as docker's --sig-proxy does. The returned
// stop function ends forwarding.
func forwardSignals(ctx context.Context, api client.APIClient, id string) (stop func()) {
	sigc := make(chan os.Signal, 128)
	signal.Notify(sigc)
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigc:
				sig, ok := s.(unix.Signal)
				if !ok {
					continue
				}
				switch sig {
				case unix.SIGCHLD, unix.SIGPIPE, unix.SIGURG, unix.SIGWINCH:
					continue
				}
				name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
				if name == "" {
					continue
				}
				_, _ = api.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: name})
			}
		}
	}()
	return func() {
		signal.Stop(sigc)
		cancel()
		<-done
	}
}
