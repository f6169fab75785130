package image

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribution/reference"
	"golang.org/x/crypto/bcrypt"
)

const dockerRegistry = "/usr/bin/docker-registry"

// testRegistry is Debian's docker-registry (distribution 2.8) serving on
// 127.0.0.1 with its storage in a temporary directory.
type testRegistry struct {
	host    string // 127.0.0.1:PORT
	storage string
}

type registryOpts struct {
	user, password  string // htpasswd auth when set
	tlsCert, tlsKey string
}

func startRegistry(t *testing.T, o registryOpts) *testRegistry {
	t.Helper()
	if _, err := os.Stat(dockerRegistry); err != nil {
		t.Skip("needs Debian's docker-registry (apt-get install docker-registry)")
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	r := &testRegistry{host: host, storage: filepath.Join(dir, "data")}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", r.storage, host)
	if o.tlsCert != "" {
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", o.tlsCert, o.tlsKey)
	}
	if o.user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		out := []byte(o.user + ":" + string(hash) + "\n")
		pw := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(pw, out, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: test-realm\n    path: %s\n", pw)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dockerRegistry, "serve", cfgPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// The registry logs "listening on ADDR" once it accepts connections.
	ready := make(chan struct{})
	var log bytes.Buffer
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if strings.Contains(sc.Text(), "listening on") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("registry did not start:\n%s", log.String())
	}
	return r
}

// streamLines decodes a progress stream.
func streamLines(t *testing.T, b []byte) []progressMessage {
	t.Helper()
	var out []progressMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var m progressMessage
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("bad progress stream: %v\n%s", err, b)
		}
		out = append(out, m)
	}
	return out
}

// hasStatus reports whether a line with that status (and ID, when given)
// is in the stream.
func hasStatus(lines []progressMessage, id, status string) bool {
	for _, l := range lines {
		if (id == "" || l.ID == id) && strings.HasPrefix(l.Status, status) {
			return true
		}
	}
	return false
}

func mustNamed(t *testing.T, s string) reference.Named {
	t.Helper()
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// cutProxy relays TCP to target and breaks the first connection that has
// carried more than after bytes in one direction: towards the client
// (a download) or, with upload, towards the registry.
type cutProxy struct {
	host string
	cuts atomic.Int32
}

func startCutProxy(t *testing.T, target string, after int64) *cutProxy {
	t.Helper()
	return startCutProxyDir(t, target, after, false)
}

func startCutProxyDir(t *testing.T, target string, after int64, upload bool) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{host: l.Addr().String()}
	var wg sync.WaitGroup
	var cutOnce atomic.Bool
	var mu sync.Mutex
	var conns []net.Conn // closed at the end: idle keep-alive connections would hold wg
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	// relay copies from to to, cutting both ends once the byte budget of
	// the watched direction is spent.
	relay := func(from, to net.Conn, watched bool) {
		buf := make([]byte, 32<<10)
		var sent int64
		for {
			n, err := from.Read(buf)
			if n > 0 {
				if watched && sent+int64(n) > after && cutOnce.CompareAndSwap(false, true) {
					_, _ = to.Write(buf[:after-sent])
					p.cuts.Add(1)
					from.Close()
					to.Close()
					return // cut mid-transfer
				}
				if _, werr := to.Write(buf[:n]); werr != nil {
					return
				}
				sent += int64(n)
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				track(c)
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				track(s)
				go func() {
					relay(c, s, upload)
					s.Close()
				}()
				relay(s, c, !upload)
			}()
		}
	}()
	return p
}

func pullTo(t *testing.T, f *fixture, ref string, opts PullOptions) ([]progressMessage, error) {
	t.Helper()
	var buf bytes.Buffer
	err := f.svc.Pull(context.Background(), ref, opts, &buf)
	return streamLines(t, buf.Bytes()), err
}

func pushTo(t *testing.T, f *fixture, ref string, opts PushOptions) ([]progressMessage, error) {
	t.Helper()
	var buf bytes.Buffer
	err := f.svc.Push(context.Background(), ref, opts, &buf)
	return streamLines(t, buf.Bytes()), err
}
