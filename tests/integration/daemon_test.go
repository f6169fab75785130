package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	bnet "berth/internal/network"
)

// daemon is one berthd under test. Its roots, socket, pidfile and log all
// live under root, a short directory in /tmp (unix socket paths are limited
// to 108 bytes, and shims put sockets under the exec root).
type daemon struct {
	root     string
	dataRoot string
	execRoot string
	sock     string
	pidfile  string
	logPath  string
	config   string
	http     *http.Client

	cmd     *exec.Cmd
	log     *os.File
	exited  chan struct{} // closed when cmd has been waited for
	waitErr error         // valid once exited is closed
}

// referenceDaemon reports whether the suite runs against Debian's dockerd
// instead of berthd (BERTH_IT_REFERENCE=dockerd), to check that the tests
// expect what Docker does.
func referenceDaemon() bool { return os.Getenv("BERTH_IT_REFERENCE") == "dockerd" }

// newDaemon lays out a fresh daemon's directories; start runs it.
func newDaemon() (*daemon, error) {
	root, err := os.MkdirTemp("/tmp", "bt")
	if err != nil {
		return nil, err
	}
	d := &daemon{
		root:     root,
		dataRoot: filepath.Join(root, "d"),
		execRoot: filepath.Join(root, "x"), // short: shims put sockets under it
		sock:     filepath.Join(root, "berth.sock"),
		pidfile:  filepath.Join(root, "berthd.pid"),
		logPath:  filepath.Join(root, "berthd.log"),
		config:   filepath.Join(root, "daemon.json"),
	}
	// An empty config file keeps the host's /etc/berth/daemon.json out of it.
	if err := os.WriteFile(d.config, []byte("{}\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, "dockercfg"), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(root, "dockercfg", "config.json"), []byte("{}\n"), 0o600); err != nil {
		return nil, err
	}
	d.http = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "unix", d.sock)
		},
		DisableKeepAlives: true,
	}}
	return d, nil
}

// startDaemon starts a fresh daemon for one test and tears it down (with
// everything it left behind) when the test ends.
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	return startDaemonConfig(t, "")
}

// startDaemonConfig is startDaemon with config as the daemon's daemon.json
// (written before berthd starts; "" keeps the harness's default).
func startDaemonConfig(t *testing.T, config string) *daemon {
	t.Helper()
	if the.skip != "" {
		t.Skip(the.skip)
	}
	for _, b := range []string{"berthd", "berth-shim"} {
		if err := the.buildErrs[b]; err != nil && !referenceDaemon() {
			t.Fatalf("%s did not build: %v", b, err)
		}
	}
	d, err := newDaemon()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("berthd log:\n%s", d.logTail(0, 200))
		}
		for _, problem := range d.teardown() {
			t.Errorf("teardown: %s", problem)
		}
	})
	if config != "" {
		if err := os.WriteFile(d.config, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.start(); err != nil {
		t.Fatalf("starting berthd: %v", err)
	}
	return d
}

// start runs berthd on d's roots and waits until /_ping answers.
func (d *daemon) start() error {
	if d.cmd != nil {
		select {
		case <-d.exited:
		default:
			return errors.New("berthd is already running")
		}
	}
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== test harness: starting berthd at %s\n", time.Now().Format(time.RFC3339Nano))
	args := []string{
		"--config-file", d.config,
		"--data-root", d.dataRoot,
		"--exec-root", d.execRoot,
		"-H", "unix://" + d.sock,
		"--pidfile", d.pidfile,
		"--debug",
	}
	bin := filepath.Join(the.binDir, "berthd")
	if referenceDaemon() {
		// Checking the suite itself against Debian's dockerd: no bridge,
		// no firewall rules, nothing outside d.root.
		bin = "dockerd"
		args = append(args, "--bridge", "none", "--iptables=false", "--ip6tables=false")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(cleanEnv(), "PATH="+the.binDir+":"+os.Getenv("PATH"))
	cmd.Env = append(cmd.Env, offlineProxy...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	d.cmd, d.log, d.exited = cmd, logf, make(chan struct{})
	go func() {
		d.waitErr = cmd.Wait()
		logf.Close()
		close(d.exited)
	}()

	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if d.ping() == nil {
			return nil
		}
		select {
		case <-d.exited:
			return fmt.Errorf("berthd exited before answering /_ping: %v\n%s", d.waitErr, d.logTail(0, 60))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("berthd did not answer /_ping on %s within 30s: %v", d.sock, d.ping())
		}
	}
}

func (d *daemon) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://berth/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "OK" {
		return fmt.Errorf("/_ping: %d %q", resp.StatusCode, body)
	}
	return nil
}

// pid is berthd's process ID while it runs.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// running reports whether the berthd process has not exited.
func (d *daemon) running() bool {
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// signal sends sig to berthd and, for SIGKILL, waits until it has exited.
func (d *daemon) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling berthd: %v", err)
	}
	if sig != syscall.SIGKILL {
		return
	}
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("berthd did not die within 10s of SIGKILL")
	}
}

// stop sends SIGTERM and waits for berthd to exit, killing it after timeout.
func (d *daemon) stop(timeout time.Duration) error {
	if !d.running() {
		return nil
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		if d.waitErr != nil {
			return fmt.Errorf("berthd exited with %v after SIGTERM", d.waitErr)
		}
		return nil
	case <-time.After(timeout):
	}
	_ = d.cmd.Process.Kill()
	<-d.exited
	return fmt.Errorf("berthd did not exit within %v of SIGTERM; killed it", timeout)
}

// logSize is how much berthd has logged so far.
func (d *daemon) logSize() int64 {
	fi, err := os.Stat(d.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logTail returns at most the last n lines berthd logged after offset from.
func (d *daemon) logTail(from int64, n int) string {
	data, err := os.ReadFile(d.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if from > int64(len(data)) {
		from = 0
	}
	lines := strings.Split(strings.TrimRight(string(data[from:]), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("(%d earlier lines cut)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// api makes one Engine API request over the daemon's socket.
func (d *daemon) api(method, path, contentType string, body io.Reader) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://berth"+path, body)
	if err != nil {
		return 0, nil, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

// importBusybox imports the suite's busybox rootfs as busybox:latest through
// the API (not a CLI, so every CLI test starts from the same image).
func (d *daemon) importBusybox() error {
	f, err := os.Open(the.busybox)
	if err != nil {
		return err
	}
	defer f.Close()
	q := url.Values{}
	q.Set("fromSrc", "-")
	q.Set("repo", "busybox")
	q.Set("tag", "latest")
	q.Set("message", "busybox from Debian busybox-static")
	q.Add("changes", `CMD ["sh"]`)
	status, _, body, err := d.api(http.MethodPost, "/images/create?"+q.Encode(), "application/x-tar", f)
	if err != nil {
		return fmt.Errorf("importing busybox: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("importing busybox: %d %s", status, body)
	}
	// The answer is a JSON progress stream; an error arrives inside it.
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("importing busybox: bad progress stream %q: %w", body, err)
		}
		if msg.Error != "" {
			return fmt.Errorf("importing busybox: %s", msg.Error)
		}
	}
	status, _, body, err = d.api(http.MethodGet, "/images/busybox:latest/json", "", nil)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("busybox:latest missing after import: %d %s %v", status, body, err)
	}
	return nil
}

// containerIDs lists every container the daemon knows, by the API when it
// answers, and by the data root's containers/ directory as well.
func (d *daemon) containerIDs() []string {
	seen := map[string]bool{}
	if d.running() {
		if status, _, body, err := d.api(http.MethodGet, "/containers/json?all=1", "", nil); err == nil && status == http.StatusOK {
			var list []struct {
				ID string `json:"Id"`
			}
			if json.Unmarshal(body, &list) == nil {
				for _, c := range list {
					seen[c.ID] = true
				}
			}
		}
	}
	if entries, err := os.ReadDir(filepath.Join(d.dataRoot, "containers")); err == nil {
		for _, e := range entries {
			if len(e.Name()) == 64 {
				seen[e.Name()] = true
			}
		}
	}
	var ids []string
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// teardown removes the daemon's containers, stops it, and then cleans up
// whatever it left: processes under its roots, mounts, cgroups, the
// directory. It returns the problems it met rather than failing a test, so
// TestMain can use it too.
func (d *daemon) teardown() []string {
	var problems []string
	ids := d.containerIDs()
	var bridges []string
	if d.running() {
		for _, id := range ids {
			_, _, _, _ = d.api(http.MethodDelete, "/containers/"+id+"?force=1", "", nil)
		}
		bridges = d.removeNetworks()
		if err := d.stop(30 * time.Second); err != nil {
			problems = append(problems, err.Error())
		}
	}
	// The default bridge is known even when the daemon is gone: it is
	// named after the exec-root, and so are the nftables tables.
	if def := defaultBridgeName(d.execRoot); !slices.Contains(bridges, def) {
		bridges = append(bridges, def)
	}
	problems = append(problems, cleanNetworking(bridges)...)
	if left := killProcessesUnder(d.root); len(left) > 0 {
		problems = append(problems, fmt.Sprintf("processes left under %s were killed: %v", d.root, left))
	}
	if err := unmountUnder(d.root); err != nil {
		problems = append(problems, err.Error())
	}
	removeCgroups(ids)
	if err := os.RemoveAll(d.root); err != nil {
		problems = append(problems, err.Error())
	}
	return problems
}

// killProcessesUnder SIGKILLs processes whose command line names dir or
// whose root or working directory lies under it (shims, runtimes,
// containers), waits for them to go, and returns their descriptions.
func killProcessesUnder(dir string) []string {
	self := os.Getpid()
	var killed []string
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == self || pid <= 1 {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		root, _ := os.Readlink(fmt.Sprintf("/proc/%d/root", pid))
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if !bytes.Contains(cmdline, []byte(dir+"/")) && !strings.HasPrefix(root, dir+"/") && !strings.HasPrefix(cwd, dir+"/") {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			pids = append(pids, pid)
			killed = append(killed, fmt.Sprintf("%d(%s)", pid, strings.ReplaceAll(string(bytes.TrimRight(cmdline, "\x00")), "\x00", " ")))
		}
	}
	pollUntil(time.Now().Add(10*time.Second), func() bool {
		for _, pid := range pids {
			if processAlive(pid) {
				return false
			}
		}
		return true
	})
	return killed
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// unmountUnder lazily unmounts every mount point under dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	var errs []error
	for i := len(points) - 1; i >= 0; i-- {
		if err := syscall.Unmount(points[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("umount -l %s: %w", points[i], err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeCgroups removes cgroup directories named after the given container
// IDs in every mounted hierarchy (best effort: a cgroup still in use stays).
func removeCgroups(ids []string) {
	if len(ids) == 0 {
		return
	}
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	hierarchies = append(hierarchies, "/sys/fs/cgroup")
	var dirs []string
	for _, h := range hierarchies {
		_ = filepath.WalkDir(h, func(path string, e os.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return nil
			}
			if strings.Count(strings.TrimPrefix(path, h), "/") > 4 {
				return filepath.SkipDir
			}
			for _, id := range ids {
				if strings.Contains(e.Name(), id) {
					_ = filepath.WalkDir(path, func(sub string, e os.DirEntry, err error) error {
						if err == nil && e.IsDir() {
							dirs = append(dirs, sub)
						}
						return nil
					})
					return filepath.SkipDir
				}
			}
			return nil
		})
	}
	// Children before parents.
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, dir := range dirs {
		_ = syscall.Rmdir(dir)
	}
}

// cleanEnv is the test's environment without anything that would point a
// CLI at another daemon or config.
// offlineProxy keeps a daemon under test off the internet: a request for a
// named host (Docker Hub, when a test names an image that is nowhere)
// goes to a closed port of 127.0.0.1 instead, with no DNS lookup, and fails
// at once as an unreachable registry does. Loopback addresses are never
// proxied (the tests' registries), nor are the private ranges of the
// tests' own namespaces.
var offlineProxy = []string{
	"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9",
	"NO_PROXY=10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DOCKER_") || strings.HasPrefix(kv, "BERTH_") || strings.HasPrefix(kv, "PATH=") || isProxyVar(kv) {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// isProxyVar reports whether kv sets one of the proxy variables, which the
// suite sets itself (offlineProxy).
func isProxyVar(kv string) bool {
	name, _, _ := strings.Cut(kv, "=")
	switch strings.ToUpper(name) {
	case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY":
		return true
	}
	return false
}

// waitFor polls cond every 20ms until it holds, failing the test after
// timeout. It is for external state with no event to wait on (a log file
// growing, a process dying); everything else waits on the event itself.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !pollUntil(time.Now().Add(timeout), cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// pollUntil checks cond every 20ms until it holds (true) or the deadline
// passes (false).
func pollUntil(deadline time.Time, cond func() bool) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// removeNetworks removes the daemon's user-defined networks and returns
// the bridge devices of all its bridge networks, to be deleted once the
// daemon is gone.
func (d *daemon) removeNetworks() []string {
	code, _, body, err := d.api(http.MethodGet, "/networks", "", nil)
	if err != nil || code != http.StatusOK {
		return nil
	}
	var nets []struct {
		ID      string `json:"Id"`
		Name    string
		Driver  string
		Options map[string]string
	}
	if json.Unmarshal(body, &nets) != nil {
		return nil
	}
	var bridges []string
	for _, n := range nets {
		if n.Driver != "bridge" {
			continue
		}
		if n.Name != "bridge" {
			_, _, _, _ = d.api(http.MethodDelete, "/networks/"+n.ID, "", nil)
		}
		if name := n.Options["com.docker.network.bridge.name"]; name != "" {
			bridges = append(bridges, name)
		} else if len(n.ID) >= 12 {
			bridges = append(bridges, "br-"+n.ID[:12])
		}
	}
	return bridges
}

// cleanNetworking deletes a stopped test daemon's bridges and its
// nftables tables, which are named after its default bridge.
func cleanNetworking(bridges []string) []string {
	var problems []string
	for _, b := range bridges {
		if err := bnet.DeleteBridge(b); err != nil {
			problems = append(problems, fmt.Sprintf("delete bridge %s: %v", b, err))
		}
		if strings.HasPrefix(b, "berth-") {
			if err := bnet.NewFirewall(b).Delete(); err != nil {
				problems = append(problems, fmt.Sprintf("delete nftables tables %s: %v", b, err))
			}
		}
	}
	return problems
}

// defaultBridgeName is the default bridge of a berthd with this exec-root:
// berth-<first 3 bytes of sha256(exec-root), in hex>.
func defaultBridgeName(execRoot string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(execRoot)))
	return "berth-" + hex.EncodeToString(sum[:3])
}
