package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cliTimeout bounds every CLI invocation, so a hang fails one test instead
// of the whole run.
const cliTimeout = 60 * time.Second

// client is one CLI (docker or berth) pointed at one daemon, for one test.
type client struct {
	t    *testing.T
	d    *daemon
	name string // "docker" or "berth"
	path string
}

// result is what a finished CLI invocation produced.
type result struct {
	stdout string
	stderr string
	code   int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// client returns the named CLI pointed at d.
func (d *daemon) client(t *testing.T, name string) *client {
	t.Helper()
	c := &client{t: t, d: d, name: name}
	switch name {
	case "docker":
		c.path = dockerCLI
		if _, err := os.Stat(c.path); err != nil {
			t.Fatalf("the Docker CLI is missing: %v", err)
		}
	case "berth":
		if err := the.buildErrs["berth"]; err != nil {
			t.Fatalf("berth did not build: %v", err)
		}
		c.path = filepath.Join(the.binDir, "berth")
	default:
		t.Fatalf("unknown client %q", name)
	}
	return c
}

// env is the environment every invocation gets: this daemon's socket, a
// private CLI config directory, no hints.
func (c *client) env() []string {
	return append(cleanEnv(),
		"PATH="+os.Getenv("PATH"),
		"DOCKER_HOST=unix://"+c.d.sock,
		"DOCKER_CONFIG="+filepath.Join(c.d.root, "dockercfg"),
		"DOCKER_CLI_HINTS=false",
	)
}

// command prepares an invocation for the caller to start (background
// streams such as logs -f, attach, wait, or a pty).
func (c *client) command(args ...string) *exec.Cmd {
	cmd := exec.Command(c.path, args...)
	cmd.Env = c.env()
	return cmd
}

// run invokes the CLI and waits for it.
func (c *client) run(args ...string) result {
	c.t.Helper()
	return c.runWith(nil, nil, args...)
}

// runWith invokes the CLI with stdin and extra environment variables.
func (c *client) runWith(stdin io.Reader, env []string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Env = append(c.env(), env...)
	cmd.Stdin = stdin
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		c.t.Fatalf("%s %s: no answer within %v\nstdout: %s\nstderr: %s", c.name, strings.Join(args, " "), cliTimeout, r.stdout, r.stderr)
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	default:
		c.t.Fatalf("%s %s: %v", c.name, strings.Join(args, " "), err)
	}
	return r
}

// ok invokes the CLI, fails the test unless it exits 0, and returns stdout.
func (c *client) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("%s %s: %s", c.name, strings.Join(args, " "), r)
	}
	return r.stdout
}

// okTrim is ok with surrounding white space removed.
func (c *client) okTrim(args ...string) string {
	c.t.Helper()
	return strings.TrimSpace(c.ok(args...))
}

// expectExit invokes the CLI and fails the test unless it exits with code.
func (c *client) expectExit(code int, args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != code {
		c.t.Fatalf("%s %s: want exit %d, got %s", c.name, strings.Join(args, " "), code, r)
	}
	return r
}

// inspect returns one Go template applied to a container.
func (c *client) inspect(format, ref string) string {
	c.t.Helper()
	return c.okTrim("container", "inspect", "--format", format, ref)
}

// names is a per-run counter making container and image names unique.
var names atomic.Int64

// uniqueName returns a fresh lower-case name (valid as a container name and
// as an image repository) and removes any container of that name when the
// test ends.
func (c *client) uniqueName(what string) string {
	n := fmt.Sprintf("it-%s-%s-%d", what, c.name, names.Add(1))
	d := c.d
	c.t.Cleanup(func() {
		if d.running() {
			_, _, _, _ = d.api("DELETE", "/containers/"+n+"?force=1", "", nil)
		}
	})
	return n
}

// stream collects a background process's output as it arrives, so tests can
// wait for text to appear.
type stream struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *stream) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// background is a CLI process the test started and waits on.
type background struct {
	cmd    *exec.Cmd
	stdout *stream
	stderr *stream
	done   chan struct{}
	err    error
}

// start runs the CLI in the background; the test's cleanup kills it (by its
// PID) if it is still running.
func (c *client) start(args ...string) *background {
	c.t.Helper()
	b := &background{cmd: c.command(args...), stdout: &stream{}, stderr: &stream{}, done: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	if err := b.cmd.Start(); err != nil {
		c.t.Fatalf("starting %s %s: %v", c.name, strings.Join(args, " "), err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.done)
	}()
	c.t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

// wait waits for the background process to exit and returns its exit code.
func (b *background) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v\nstdout: %s\nstderr: %s", strings.Join(b.cmd.Args, " "), timeout, b.stdout, b.stderr)
	}
	var exitErr *exec.ExitError
	if errors.As(b.err, &exitErr) {
		return exitErr.ExitCode()
	}
	if b.err != nil {
		t.Fatalf("%s: %v", strings.Join(b.cmd.Args, " "), b.err)
	}
	return 0
}

// waitOutput waits until the background process's stdout contains want.
func (b *background) waitOutput(t *testing.T, timeout time.Duration, want string) {
	t.Helper()
	if !pollUntil(time.Now().Add(timeout), func() bool { return strings.Contains(b.stdout.String(), want) }) {
		t.Fatalf("%s: %q did not appear within %v\nstdout: %s\nstderr: %s", strings.Join(b.cmd.Args, " "), want, timeout, b.stdout, b.stderr)
	}
}

// lines splits output into non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" {
			out = append(out, l)
		}
	}
	return out
}
