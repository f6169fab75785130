package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// Container scripts. busybox sh as PID 1 ignores SIGTERM unless it traps it,
// so the scripts that must stop promptly trap it; `sleep & wait` lets a trap
// run at once instead of after the sleep.
const (
	// idle: runs until stopped; SIGTERM exits 7, SIGUSR1 prints got-usr1.
	idleScript = `trap 'echo got-usr1' USR1; trap 'exit 7' TERM; echo ready; while :; do sleep 1 & wait $!; done`
	// ticker: prints tick N ten times a second, forever.
	tickerScript = `trap 'exit 0' TERM; i=0; while :; do echo tick $i; i=$((i+1)); usleep 100000; done`
)

var fullID = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestVersionAndInfo(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		if v := c.okTrim("version", "--format", "{{.Server.Version}}"); v == "" {
			t.Error("version: empty server version")
		}
		if api := c.okTrim("version", "--format", "{{.Server.APIVersion}}"); !regexp.MustCompile(`^1\.\d+$`).MatchString(api) {
			t.Errorf("version: server API version %q", api)
		}
		if drv := c.okTrim("info", "--format", "{{.Driver}}"); drv != "overlay2" && drv != "overlayfs" && drv != "vfs" {
			t.Errorf("info: storage driver %q", drv)
		}
		if n := c.okTrim("info", "--format", "{{.Images}}"); n == "0" || n == "" {
			t.Errorf("info: %q images, want at least busybox", n)
		}
	})
}

func TestRunDetachedShowsInPs(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("ps")
		id := c.okTrim("run", "-d", "--name", name, "busybox", "sh", "-c", idleScript)
		if !fullID.MatchString(id) {
			t.Fatalf("run -d printed %q, want a 64-hex container ID", id)
		}

		table := c.ok("ps")
		rows := lines(table)
		if len(rows) == 0 || !strings.HasPrefix(rows[0], "CONTAINER ID") {
			t.Fatalf("ps: no header:\n%s", table)
		}
		var row string
		for _, r := range rows[1:] {
			if strings.HasSuffix(strings.TrimSpace(r), name) {
				row = r
			}
		}
		if row == "" {
			t.Fatalf("ps does not list %s:\n%s", name, table)
		}
		for _, want := range []string{id[:12], "busybox", "Up "} {
			if !strings.Contains(row, want) {
				t.Errorf("ps row %q lacks %q", row, want)
			}
		}

		got := c.okTrim("ps", "--no-trunc", "--filter", "id="+id, "--format", "{{.ID}} {{.Names}} {{.Image}} {{.State}}")
		if want := id + " " + name + " busybox running"; got != want {
			t.Errorf("ps --format: got %q, want %q", got, want)
		}
		// dockerd quotes an argument that holds a space; the CLI quotes
		// the whole command.
		cmd := c.okTrim("ps", "--no-trunc", "--filter", "id="+id, "--format", "{{.Command}}")
		if want := strconv.Quote("sh -c '" + idleScript + "'"); cmd != want {
			t.Errorf("ps COMMAND: got %s, want %s", cmd, want)
		}
		if ids := c.ok("ps", "-q"); !strings.Contains(ids, id[:12]+"\n") {
			t.Errorf("ps -q lacks %s:\n%s", id[:12], ids)
		}
	})
}

func TestLogsFollow(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("logs")
		script := `trap 'echo after; exit 0' USR1; echo before; while :; do sleep 1 & wait $!; done`
		c.ok("run", "-d", "--name", name, "busybox", "sh", "-c", script)

		follow := c.start("logs", "-f", name)
		follow.waitOutput(t, 20*time.Second, "before\n")
		c.ok("kill", "-s", "USR1", name)
		follow.waitOutput(t, 20*time.Second, "after\n")
		if code := follow.wait(t, 20*time.Second); code != 0 {
			t.Errorf("logs -f exited %d after the container stopped, want 0", code)
		}
		if got := follow.stdout.String(); got != "before\nafter\n" {
			t.Errorf("logs -f printed %q, want %q", got, "before\nafter\n")
		}
		if got := c.ok("logs", name); got != "before\nafter\n" {
			t.Errorf("logs printed %q", got)
		}
		if got := c.ok("logs", "--tail", "1", name); got != "after\n" {
			t.Errorf("logs --tail 1 printed %q", got)
		}
		// dockerd takes a tail that is not a number for all of the log.
		if got := c.ok("logs", "--tail", "abc", name); got != "before\nafter\n" {
			t.Errorf("logs --tail abc printed %q, want all of it", got)
		}
	})
}

func TestExecInteractiveThroughPty(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("exec")
		c.ok("run", "-d", "--name", name, "busybox", "sh", "-c", idleScript)

		cmd := c.command("exec", "-it", name, "sh")
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
		if err != nil {
			t.Fatalf("starting exec -it on a pty: %v", err)
		}
		defer ptmx.Close()
		out := &stream{}
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			buf := make([]byte, 4096)
			for {
				n, err := ptmx.Read(buf)
				out.Write(buf[:n])
				if err != nil {
					return
				}
			}
		}()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			select {
			case <-exited:
			default:
				_ = cmd.Process.Kill()
			}
		})

		if _, err := ptmx.Write([]byte("echo $((6*7))\n")); err != nil {
			t.Fatal(err)
		}
		if !pollUntil(time.Now().Add(20*time.Second), func() bool { return strings.Contains(out.String(), "42") }) {
			t.Fatalf("exec -it: no 42 within 20s; the terminal showed %q", out.String())
		}
		if _, err := ptmx.Write([]byte("exit\n")); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("exec -it ... sh; exit: %v (terminal: %q)", err, out.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("exec -it did not end within 20s of exit; terminal: %q", out.String())
		}

		// Without a TTY: output and exit status come back as they are.
		if got := c.ok("exec", name, "echo", "hi"); got != "hi\n" {
			t.Errorf("exec echo hi printed %q", got)
		}
		c.expectExit(3, "exec", name, "sh", "-c", "exit 3")
		if got := c.ok("exec", "-e", "X=1", "-w", "/tmp", name, "sh", "-c", "echo $X $(pwd)"); got != "1 /tmp\n" {
			t.Errorf("exec -e -w printed %q", got)
		}
		// An exec's events name its command as dockerd does: entrypoint,
		// a space, the arguments ("true " for a lone true).
		since := time.Now()
		c.ok("exec", name, "true")
		evs := c.ok("events", "--since", unixNano(since), "--until", unixNano(time.Now()), "--filter", "container="+name,
			"--filter", "event=exec_start", "--format", "{{json .Action}}")
		if !slices.Contains(lines(evs), `"exec_start: true "`) {
			t.Errorf("events of exec true: want %q among %q", "exec_start: true ", evs)
		}
		// Exit codes of an exec that cannot run, as dockerd records them:
		// 127 not found, 126 not executable, and 126 for a user that does
		// not exist, found before the runtime is asked.
		for _, tc := range []struct {
			code int
			want string
			args []string
		}{
			{127, "/nope", []string{name, "/nope"}},
			{126, "permission denied", []string{name, "/etc"}},
			{126, "unable to find user nobody123: no matching entries in passwd file", []string{"-u", "nobody123", name, "id"}},
		} {
			// The Docker CLI prints the daemon's words on stdout here.
			r := c.expectExit(tc.code, append([]string{"exec"}, tc.args...)...)
			if !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Errorf("exec %s: want %q in %s", strings.Join(tc.args, " "), tc.want, r)
			}
		}
	})
}

func TestAttachShowsNewOutput(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("attach")
		c.ok("run", "-d", "--name", name, "busybox", "sh", "-c", tickerScript)
		waitFor(t, 20*time.Second, "the first tick", func() bool { return strings.Contains(c.ok("logs", name), "tick 0") })

		attach := c.start("attach", name)
		attach.waitOutput(t, 20*time.Second, "tick ")
		// Output seen through attach is new: attach does not replay the log.
		first := strings.Fields(lines(attach.stdout.String())[0])
		if len(first) != 2 || first[1] == "0" {
			t.Errorf("attach's first line %q: want a later tick than 0", first)
		}
		c.ok("kill", name)
		if code := attach.wait(t, 20*time.Second); code != 137 {
			t.Errorf("attach exited %d after the container was killed, want 137 (its exit code)", code)
		}
	})
}

func TestLifecycle(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("life")
		readyCount := func(n int) {
			t.Helper()
			waitFor(t, 20*time.Second, "ready #"+strconv.Itoa(n), func() bool {
				return strings.Count(c.ok("logs", name), "ready\n") >= n
			})
		}
		state := func() string { return c.inspect("{{.State.Status}} {{.State.ExitCode}}", name) }

		c.ok("run", "-d", "--name", name, "busybox", "sh", "-c", idleScript)
		readyCount(1)

		if got := c.okTrim("kill", "-s", "SIGUSR1", name); got != name {
			t.Errorf("kill -s SIGUSR1 printed %q, want %q", got, name)
		}
		waitFor(t, 20*time.Second, "the USR1 trap", func() bool { return strings.Contains(c.ok("logs", name), "got-usr1") })
		if got := state(); got != "running 0" {
			t.Errorf("after SIGUSR1: %q, want running", got)
		}

		r := c.expectExit(1, "rm", name)
		// Docker 25+: "cannot remove container ...: container is running: stop
		// the container before removing or force remove"; 20.10: "You cannot
		// remove a running container ... Stop the container before ...".
		if !regexp.MustCompile(`(?i)stop the container before`).MatchString(r.stderr) {
			t.Errorf("rm of a running container: stderr %q", r.stderr)
		}

		if got := c.okTrim("stop", name); got != name {
			t.Errorf("stop printed %q", got)
		}
		if got := state(); got != "exited 7" {
			t.Errorf("after stop: %q, want exited 7 (the TERM trap's status)", got)
		}

		if got := c.okTrim("start", name); got != name {
			t.Errorf("start printed %q", got)
		}
		readyCount(2)
		if got := state(); got != "running 0" {
			t.Errorf("after start: %q", got)
		}
		started := c.inspect("{{.State.StartedAt}}", name)

		if got := c.okTrim("restart", name); got != name {
			t.Errorf("restart printed %q", got)
		}
		readyCount(3)
		if got := state(); got != "running 0" {
			t.Errorf("after restart: %q", got)
		}
		if again := c.inspect("{{.State.StartedAt}}", name); again == started {
			t.Errorf("restart kept StartedAt %s", again)
		}

		wait := c.start("wait", name)
		c.ok("stop", name)
		if code := wait.wait(t, 30*time.Second); code != 0 {
			t.Errorf("wait exited %d", code)
		}
		if got := wait.stdout.String(); got != "7\n" {
			t.Errorf("wait printed %q, want 7", got)
		}

		c.ok("start", name)
		if got := c.okTrim("rm", "-f", name); got != name {
			t.Errorf("rm -f printed %q", got)
		}
		r = c.expectExit(1, "container", "inspect", name)
		if !strings.Contains(r.stderr, "No such container: "+name) {
			t.Errorf("inspect after rm -f: stderr %q", r.stderr)
		}
	})
}

func TestInspectFormat(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("inspect")
		id := c.okTrim("run", "-d", "--name", name, "busybox", "sleep", "300")
		checks := []struct{ format, want string }{
			{"{{.State.Status}}", "running"},
			{"{{.Config.Cmd}}", "[sleep 300]"},
			{"{{json .Config.Cmd}}", `["sleep","300"]`},
			{"{{.Name}}", "/" + name},
			{"{{.Id}}", id},
			{"{{.Config.Image}}", "busybox"},
			{"{{.State.Running}}", "true"},
		}
		for _, ch := range checks {
			if got := c.okTrim("inspect", "--format", ch.format, name); got != ch.want {
				t.Errorf("inspect --format %s: got %q, want %q", ch.format, got, ch.want)
			}
		}
		if pid, err := strconv.Atoi(c.inspect("{{.State.Pid}}", name)); err != nil || pid <= 0 || !processAlive(pid) {
			t.Errorf("State.Pid %d (%v) is not a live process", pid, err)
		}
		var all []struct {
			ID    string `json:"Id"`
			Name  string
			State struct{ Status string }
		}
		if err := json.Unmarshal([]byte(c.ok("container", "inspect", name, id[:12])), &all); err != nil {
			t.Fatalf("container inspect is not a JSON array: %v", err)
		}
		if len(all) != 2 || all[0].ID != id || all[1].ID != id || all[0].State.Status != "running" {
			t.Errorf("container inspect by name and ID prefix: %+v", all)
		}
	})
}

// startAll runs one detached container per name with the same script and
// returns their IDs.
func startAll(t *testing.T, c *client, names []string, script string) []string {
	t.Helper()
	var ids []string
	for _, n := range names {
		ids = append(ids, c.okTrim("run", "-d", "--name", n, "busybox", "sh", "-c", script))
	}
	return ids
}

// TestLogRotation: json-file's max-size (decimal units, as dockerd reads
// them: 10k is 10,000 bytes, not 10,240) and max-file bound the log on
// disk, and logs reads across the kept files in order.
func TestLogRotation(t *testing.T) {
	d := sharedDaemon(t)
	c := d.client(t, "docker")
	name := c.uniqueName("rotate")
	c.ok("run", "--name", name, "--log-opt", "max-size=10k", "--log-opt", "max-file=3",
		"busybox", "sh", "-c", "i=0; while [ $i -lt 1000 ]; do echo line-$i; i=$((i+1)); done")
	logPath := c.inspect("{{.LogPath}}", name)
	files, _ := filepath.Glob(logPath + "*")
	sort.Strings(files)
	want := []string{logPath, logPath + ".1", logPath + ".2"}
	if !slices.Equal(files, want) {
		t.Fatalf("log files %v, want %v", files, want)
	}
	// A file is rotated once a write takes it to 10,000 bytes or more: a
	// rotated file holds less than that plus its longest entry.
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		longest := 0
		for _, l := range strings.SplitAfter(string(data), "\n") {
			longest = max(longest, len(l))
		}
		rotated := f != logPath
		if n := len(data); n >= 10000+longest || (rotated && n < 10000) {
			t.Errorf("%s: %d bytes (longest entry %d), want %s10,000 + %d", f, n, longest, map[bool]string{true: "10,000 to ", false: "under "}[rotated], longest)
		}
	}
	out := lines(c.ok("logs", name))
	if len(out) == 0 || out[len(out)-1] != "line-999" {
		t.Fatalf("logs ends with %q, want line-999", out[max(0, len(out)-1):])
	}
	first, err := strconv.Atoi(strings.TrimPrefix(out[0], "line-"))
	if err != nil {
		t.Fatalf("logs starts with %q", out[0])
	}
	for i, l := range out {
		if l != "line-"+strconv.Itoa(first+i) {
			t.Fatalf("logs line %d is %q, want line-%d: the kept files are not read in order", i, l, first+i)
		}
	}
	if first == 0 {
		t.Errorf("logs starts at line-0: nothing was rotated away")
	}
}
