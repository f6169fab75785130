package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startServer runs serve on a loopback port for the test and stops it
// (waiting for serve to return) at cleanup.
func startServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestClientAgainstServer(t *testing.T) {
	addr := startServer(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"sequential", []string{"-n", "300", "-c", "1", "-warm", "5"}},
		{"eight at once", []string{"-n", "300", "-c", "8", "-warm", "5"}},
		{"more workers than connections", []string{"-n", "3", "-c", "16", "-warm", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"-url", "http://" + addr + "/"}, tc.args...)
			if err := run(context.Background(), args, &out, &errb); err != nil {
				t.Fatalf("run %v: %v (stderr %q)", args, err, errb.String())
			}
			rate, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
			if err != nil || rate <= 0 {
				t.Fatalf("stdout %q: want a positive rate", out.String())
			}
			n := tc.args[1]
			if !strings.Contains(errb.String(), ": "+n+" connections") || !strings.Contains(errb.String(), " 0 failed") {
				t.Errorf("summary %q: want %s connections, 0 failed", errb.String(), n)
			}
		})
	}
}

func TestServerAnswer(t *testing.T) {
	addr := startServer(t)
	for _, tc := range []struct {
		name, req string
		want      string
	}{
		{"http/1.0 request", "GET / HTTP/1.0\r\n\r\n", response},
		{"curl-like request", "GET /x HTTP/1.1\r\nHost: a\r\nUser-Agent: curl\r\nAccept: */*\r\n\r\n", response},
		{"bare newlines", "GET / HTTP/1.0\n\n", response},
		{"head never ends", strings.Repeat("x", maxRequest+2048), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(conn, tc.req); err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(conn) // a reset after an oversized head is fine
			if string(got) != tc.want {
				t.Errorf("answer %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no url", nil, "want http://IP:PORT/PATH"},
		{"host name", []string{"-url", "http://localhost:80/"}, "must be an IP address"},
		{"zero workers", []string{"-url", "http://127.0.0.1:80/", "-c", "0"}, "-c 0"},
		{"serve and url", []string{"-serve", ":0", "-url", "http://127.0.0.1:80/"}, "exclude each other"},
		{"stray argument", []string{"-url", "http://127.0.0.1:80/", "extra"}, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run %v: %v, want an error naming %q", tc.args, err, tc.want)
			}
		})
	}
}
