// Command connrate measures how many short TCP connections per second a
// client gets through to an HTTP server, and is that server too, so that
// bench/network.sh measures every engine's port publishing against the same
// cheap, non-forking server.
//
// Client: each connection is dialled, sends one "GET / HTTP/1.0" request,
// reads the whole answer and is closed (no keep-alive); -c workers do this
// at once until -n connections are done.
//
//	connrate -url http://127.0.0.1:8080/ -n 20000 -c 8
//
// It prints the rate (connections per second, one decimal) on stdout and a
// summary on stderr. The loop is bounded in count (-n) and time
// (-max-time), and it stops by itself. Targets are limited to loopback,
// unless connrate runs in a network namespace other than the host's (the
// bench's own), so it cannot be aimed at another machine.
//
// Server (serve.go): answers every connection with one fixed HTTP/1.0
// response and closes it, in a goroutine per connection (no fork, no file
// read), until SIGTERM or SIGINT.
//
//	connrate -serve :80
//
// bench/network.sh builds it with CGO_ENABLED=0 and imports a rootfs that
// holds just this binary as the server image.
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
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "connrate:", err)
		stop()
		os.Exit(1)
	}
}

type config struct {
	target  string // host:port
	path    string
	n       int
	conc    int
	warm    int
	maxTime time.Duration
	timeout time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("connrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	serveAddr := fs.String("serve", "", "serve on this [IP]:PORT instead of measuring (e.g. :80)")
	rawURL := fs.String("url", "", "http://HOST:PORT/PATH to fetch (HOST an IP address)")
	n := fs.Int("n", 2000, "connections to time")
	conc := fs.Int("c", 1, "connections in flight at once (workers)")
	warm := fs.Int("warm", 50, "connections made first and not timed")
	maxTime := fs.Duration("max-time", 60*time.Second, "stop after this long even if -n is not reached")
	timeout := fs.Duration("timeout", 5*time.Second, "per-connection deadline")
	hostNS := fs.String("host-netns", "/proc/1/ns/net", "the host's network namespace: non-loopback targets are refused while connrate runs in it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *serveAddr != "" {
		if *rawURL != "" {
			return errors.New("-serve and -url exclude each other")
		}
		ln, err := net.Listen("tcp", *serveAddr)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "connrate: serving on %s\n", ln.Addr())
		return serve(ctx, ln, *timeout)
	}
	cfg, err := parseTarget(*rawURL)
	if err != nil {
		return err
	}
	if *n <= 0 || *n > 10_000_000 {
		return fmt.Errorf("-n %d: want 1..10000000", *n)
	}
	if *conc <= 0 || *conc > 1024 {
		return fmt.Errorf("-c %d: want 1..1024", *conc)
	}
	cfg.n, cfg.conc, cfg.warm, cfg.maxTime, cfg.timeout = *n, *conc, *warm, *maxTime, *timeout
	if err := checkTarget(cfg.target, *hostNS); err != nil {
		return err
	}
	res, err := measure(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%.1f\n", res.rate())
	fmt.Fprintf(stderr, "connrate: %s: %d connections (%d at once) in %v (%.1f/s), %d failed",
		cfg.target, res.done, cfg.conc, res.elapsed.Round(time.Millisecond), res.rate(), res.failed)
	if res.firstErr != nil {
		fmt.Fprintf(stderr, ", first error: %v", res.firstErr)
	}
	fmt.Fprintln(stderr)
	if res.failed > res.done/100 {
		return fmt.Errorf("%d of %d connections failed", res.failed, res.done+res.failed)
	}
	return nil
}

type result struct {
	done, failed int64
	elapsed      time.Duration
	firstErr     error
}

func (r result) rate() float64 { return float64(r.done) / r.elapsed.Seconds() }

// measure makes cfg.warm untimed connections, then cfg.n timed ones with
// cfg.conc workers taking turns from one counter. Failed connections count
// towards cfg.n (a dead server ends the loop), not towards the rate.
func measure(ctx context.Context, cfg config) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.maxTime)
	defer cancel()
	for i := 0; i < cfg.warm; i++ {
		if err := fetchOnce(ctx, cfg); err != nil {
			return result{}, fmt.Errorf("warm-up connection %d to %s: %w", i+1, cfg.target, err)
		}
	}
	var (
		next, done, failed atomic.Int64
		errOnce            sync.Once
		firstErr           error
		wg                 sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < cfg.conc; w++ {
		wg.Go(func() {
			for next.Add(1) <= int64(cfg.n) && ctx.Err() == nil {
				if err := fetchOnce(ctx, cfg); err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	res := result{done: done.Load(), failed: failed.Load(), elapsed: time.Since(start), firstErr: firstErr}
	if res.done == 0 {
		return res, fmt.Errorf("no connection to %s succeeded: %v", cfg.target, firstErr)
	}
	return res, nil
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
