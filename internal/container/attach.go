package container

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"berth/internal/errdefs"
	"berth/internal/logger/jsonfile"
)

// AttachOptions are the parameters of POST /containers/{id}/attach.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
	Stream, Logs          bool
	DetachKeys            string
}

type attachResult struct {
	conn net.Conn
	err  error
}

// pendingAttach is an attach that waits for the container to start.
type pendingAttach struct {
	stdin, stdout, stderr bool
	ready                 chan attachResult
}

// ErrDetached ends an attachment whose client typed the detach keys.
var ErrDetached = errors.New("detached")

// Tty reports whether c runs with a terminal (raw stream) or not
// (multiplexed stream).
func (c *Container) Tty() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Config.Tty
}

// Attach connects client to c's stdio until the container exits, the
// client detaches, or ctx ends. Output is raw with a terminal and
// stdcopy-multiplexed without, as the hijacked Engine API stream expects.
func (s *Service) Attach(ctx context.Context, c *Container, opts AttachOptions, client io.ReadWriter) error {
	keys, err := parseDetachKeys(opts.DetachKeys)
	if err != nil {
		return err
	}
	if opts.Logs {
		if err := s.writeLogs(ctx, c, LogOptions{Stdout: opts.Stdout, Stderr: opts.Stderr, Tail: -1}, client); err != nil {
			return err
		}
	}
	if !opts.Stream {
		return nil
	}
	c.mu.Lock()
	var conn net.Conn
	if c.State.Running() && c.shim != nil {
		sh := c.shim
		c.mu.Unlock()
		if conn, err = sh.Attach(ctx, opts.Stdin, opts.Stdout, opts.Stderr); err != nil {
			return err
		}
	} else {
		p := &pendingAttach{stdin: opts.Stdin, stdout: opts.Stdout, stderr: opts.Stderr, ready: make(chan attachResult, 1)}
		c.pending = append(c.pending, p)
		c.mu.Unlock()
		select {
		case r := <-p.ready:
			if r.err != nil {
				return r.err
			}
			if r.conn == nil {
				return nil // the start failed; the client hears it from start
			}
			conn = r.conn
		case <-c.removed:
			return nil
		case <-ctx.Done():
			s.dropPending(c, p)
			return ctx.Err()
		}
	}
	defer conn.Close()
	s.publish(c, "attach", nil)

	outDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(client, conn)
		outDone <- err
	}()
	inDone := make(chan error, 1)
	if opts.Stdin {
		go func() {
			_, err := io.Copy(conn, newEscapeReader(client, keys))
			if errors.Is(err, ErrDetached) {
				inDone <- err
				return
			}
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			inDone <- nil
		}()
	}
	select {
	case err := <-outDone:
		return ignoreClosed(err)
	case err := <-inDone:
		if errors.Is(err, ErrDetached) {
			s.publish(c, "detach", nil)
			return ErrDetached
		}
		return ignoreClosed(<-outDone)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) dropPending(c *Container, p *pendingAttach) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, q := range c.pending {
		if q == p {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return
		}
	}
	// Start already took it: release the connection it was handed.
	select {
	case r := <-p.ready:
		if r.conn != nil {
			r.conn.Close()
		}
	default:
	}
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// parseDetachKeys turns "ctrl-p,ctrl-q" (the default) into bytes.
func parseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return []byte{16, 17}, nil
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case strings.HasPrefix(strings.ToLower(k), "ctrl-") && len(k) == 6:
			ch := k[5]
			switch {
			case ch >= 'a' && ch <= 'z':
				out = append(out, ch-'a'+1)
			case ch == '@':
				out = append(out, 0)
			case ch >= '[' && ch <= '_':
				out = append(out, ch-'['+27)
			default:
				return nil, errdefs.Invalid(fmt.Errorf("Unknown character: '%s'", k))
			}
		default:
			return nil, errdefs.Invalid(fmt.Errorf("Unknown character: '%s'", k))
		}
	}
	return out, nil
}

// escapeReader passes input through until the detach sequence appears.
type escapeReader struct {
	r        io.Reader
	keys     []byte
	held     []byte // a prefix of keys seen so far
	out      []byte
	detached bool // the sequence was seen; return ErrDetached once out is drained
}

func newEscapeReader(r io.Reader, keys []byte) io.Reader {
	return &escapeReader{r: r, keys: keys}
}

func (e *escapeReader) Read(p []byte) (int, error) {
	for len(e.out) == 0 {
		if e.detached {
			return 0, ErrDetached
		}
		buf := make([]byte, len(p))
		n, err := e.r.Read(buf)
		for _, b := range buf[:n] {
			if b == e.keys[len(e.held)] {
				e.held = append(e.held, b)
				if len(e.held) == len(e.keys) {
					e.detached = true
					break
				}
				continue
			}
			e.out = append(e.out, e.held...)
			e.held = e.held[:0]
			e.out = append(e.out, b)
		}
		if e.detached {
			break
		}
		if err != nil {
			if len(e.out) == 0 {
				return 0, err
			}
			break
		}
	}
	if len(e.out) == 0 && e.detached {
		return 0, ErrDetached
	}
	n := copy(p, e.out)
	e.out = e.out[n:]
	return n, nil
}

// LogOptions are the parameters of GET /containers/{id}/logs.
type LogOptions struct {
	Stdout, Stderr, Follow, Timestamps, Details bool
	Tail                                        int
	Since, Until                                time.Time
}

// Logs writes c's log to w: raw with a terminal, multiplexed without.
func (s *Service) Logs(ctx context.Context, ref string, opts LogOptions, w io.Writer) error {
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	return s.writeLogs(ctx, c, opts, w)
}

// CheckLogs answers whether `logs` can work for c before any byte is sent.
func (s *Service) CheckLogs(c *Container) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.HostConfig.LogConfig.Type {
	case "json-file", "", "local":
		return nil
	}
	return errdefs.NotImplemented(fmt.Errorf("configured logging driver does not support reading"))
}

func (s *Service) writeLogs(ctx context.Context, c *Container, opts LogOptions, w io.Writer) error {
	path := s.LogPath(c)
	if path == "" {
		return nil
	}
	c.mu.Lock()
	tty := c.Config.Tty
	stop := make(chan struct{})
	if c.State.Running() {
		exited := c.exited
		go func() {
			select {
			case <-exited:
			case <-ctx.Done():
			}
			close(stop)
		}()
	} else {
		close(stop)
	}
	c.mu.Unlock()
	if !opts.Stdout && !opts.Stderr {
		return errdefs.Invalid(errors.New("Bad parameters: you must choose at least one stream"))
	}
	// Output is buffered and flushed when the reader has caught up (or at
	// the end): a flush per line costs more than reading the line.
	bw := bufio.NewWriterSize(w, 64<<10)
	flush := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		if f, ok := w.(interface{ Flush() }); ok {
			f.Flush()
		}
		return nil
	}
	var hdr [8]byte
	var prefix []byte
	err := jsonfile.Read(ctx, path, jsonfile.ReadOptions{
		Tail: opts.Tail, Since: opts.Since, Until: opts.Until, Follow: opts.Follow,
		Stdout: opts.Stdout, Stderr: opts.Stderr, Idle: flush,
	}, stop, func(e jsonfile.Entry) error {
		prefix = prefix[:0]
		if opts.Timestamps {
			prefix = e.Time.UTC().AppendFormat(prefix, time.RFC3339Nano)
			prefix = append(prefix, ' ')
		}
		if opts.Details && len(e.Attrs) > 0 {
			keys := make([]string, 0, len(e.Attrs))
			for k := range e.Attrs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for i, k := range keys {
				if i > 0 {
					prefix = append(prefix, ',')
				}
				prefix = append(prefix, k+"="+e.Attrs[k]...)
			}
			prefix = append(prefix, ' ')
		}
		if !tty {
			hdr[0] = 1
			if e.Stream == "stderr" {
				hdr[0] = 2
			}
			binary.BigEndian.PutUint32(hdr[4:], uint32(len(prefix)+len(e.Line)))
			bw.Write(hdr[:])
		}
		bw.Write(prefix)
		_, err := bw.Write(e.Line)
		return err
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if ferr := flush(); err == nil {
		err = ferr
	}
	return err
}
