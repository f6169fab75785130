// Command connrate measures how many short TCP connections per second one
// client gets through to an HTTP server: each connection is dialled, sends
// one "GET / HTTP/1.0" request, reads the whole answer and is closed, one
// after another (no concurrency, no keep-alive), as bench/network.sh uses it
// to compare a published port with a direct connection to the container.
//
//	connrate -url http://127.0.0.1:8080/ -n 2000
//
// It prints the rate (connections per second, one decimal) on stdout and a
// summary on stderr. The loop is bounded in count (-n) and time
// (-max-time), and it stops by itself. Targets are limited to loopback,
// unless connrate runs in a network namespace other than the host's (the
// bench's own), so it cannot be aimed at another machine.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "connrate:", err)
		os.Exit(1)
	}
}

type config struct {
	target  string // host:port
	path    string
	n       int
	warm    int
	maxTime time.Duration
	timeout time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("connrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", "", "http://HOST:PORT/PATH to fetch (HOST an IP address)")
	n := fs.Int("n", 2000, "connections to time")
	warm := fs.Int("warm", 50, "connections made first and not timed")
	maxTime := fs.Duration("max-time", 60*time.Second, "stop after this long even if -n is not reached")
	timeout := fs.Duration("timeout", 5*time.Second, "per-connection deadline")
	hostNS := fs.String("host-netns", "/proc/1/ns/net", "the host's network namespace: non-loopback targets are refused while connrate runs in it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := parseTarget(*rawURL)
	if err != nil {
		return err
	}
	if *n <= 0 || *n > 1_000_000 {
		return fmt.Errorf("-n %d: want 1..1000000", *n)
	}
	cfg.n, cfg.warm, cfg.maxTime, cfg.timeout = *n, *warm, *maxTime, *timeout
	if err := checkTarget(cfg.target, *hostNS); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.maxTime)
	defer cancel()
	for i := 0; i < cfg.warm; i++ {
		if err := fetchOnce(ctx, cfg); err != nil {
			return fmt.Errorf("warm-up connection %d to %s: %w", i+1, cfg.target, err)
		}
	}
	var done, failed int
	var firstErr error
	start := time.Now()
	for done+failed < cfg.n && ctx.Err() == nil {
		if err := fetchOnce(ctx, cfg); err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		done++
	}
	elapsed := time.Since(start)
	if done == 0 {
		return fmt.Errorf("no connection to %s succeeded: %v", cfg.target, firstErr)
	}
	rate := float64(done) / elapsed.Seconds()
	fmt.Fprintf(stdout, "%.1f\n", rate)
	fmt.Fprintf(stderr, "connrate: %s: %d connections in %v (%.1f/s), %d failed", cfg.target, done, elapsed.Round(time.Millisecond), rate, failed)
	if firstErr != nil {
		fmt.Fprintf(stderr, ", first error: %v", firstErr)
	}
	fmt.Fprintln(stderr)
	if failed > done/100 {
		return fmt.Errorf("%d of %d connections failed", failed, done+failed)
	}
	return nil
}

// parseTarget takes http://IP:PORT/PATH; a host name is refused (no DNS).
func parseTarget(raw string) (config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return config{}, fmt.Errorf("-url %q: want http://IP:PORT/PATH", raw)
	}
	if _, err := netip.ParseAddr(u.Hostname()); err != nil {
		return config{}, fmt.Errorf("-url %q: the host must be an IP address", raw)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return config{target: u.Host, path: path}, nil
}

// checkTarget allows loopback anywhere, and any address only from a network
// namespace that is not the host's (hostNS names it, e.g. the bench script's
// own /proc/PID/ns/net).
func checkTarget(hostport, hostNS string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return nil
	}
	self, err1 := os.Readlink("/proc/self/ns/net")
	hostID, err2 := os.Readlink(hostNS)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("cannot tell which network namespace this is (%v, %v): only loopback targets allowed", err1, err2)
	}
	if self == hostID {
		return fmt.Errorf("%s is not loopback and this is the host's network namespace: run connrate inside the bench's own namespace", host)
	}
	return nil
}

// fetchOnce makes one connection, one request, reads the answer to EOF and
// checks its status line.
func fetchOnce(ctx context.Context, cfg config) error {
	cctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(cctx, "tcp", cfg.target)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := cctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", cfg.path, cfg.target); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the status line: %w", err)
	}
	if f := strings.Fields(status); len(f) < 2 || f[1] != "200" {
		return errors.New("answer: " + strings.TrimSpace(status))
	}
	_, err = io.Copy(io.Discard, br)
	return err
}
