package integration

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// counterScript prints 0, 1, 2, ... about twenty times a second. It traps
// nothing: as PID 1 it ignores SIGTERM, so stop ends it with SIGKILL (137).
const counterScript = `i=0; while true; do echo $i; i=$((i+1)); usleep 50000; done`

// checkCounter verifies out is the gapless sequence 0..n-1 (or from..) and
// returns the last number.
func checkCounter(t *testing.T, what, out string, from int) int {
	t.Helper()
	ls := lines(out)
	if len(ls) == 0 {
		t.Fatalf("%s: no output", what)
	}
	next := from
	if from < 0 {
		first, err := strconv.Atoi(ls[0])
		if err != nil {
			t.Fatalf("%s: line 1 is %q", what, ls[0])
		}
		next = first
	}
	for i, l := range ls {
		n, err := strconv.Atoi(l)
		if err != nil || n != next {
			t.Fatalf("%s: line %d is %q, want %d (a line was lost or repeated)", what, i+1, l, next)
		}
		next++
	}
	return next - 1
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

func TestDaemonCrashKeepsContainers(t *testing.T) {
	d := startDaemon(t)
	if err := d.importBusybox(); err != nil {
		t.Fatal(err)
	}
	c := d.client(t, "berth")
	docker := d.client(t, "docker")

	var names []string
	for i := range 5 {
		names = append(names, c.uniqueName(fmt.Sprintf("crash%d", i)))
	}
	ids := startAll(t, c, names, counterScript)
	pids := make([]int, len(names))
	logPaths := make([]string, len(names))
	for i, n := range names {
		pid, err := strconv.Atoi(c.inspect("{{.State.Pid}}", n))
		if err != nil || pid <= 0 {
			t.Fatalf("%s: State.Pid: %v", n, err)
		}
		pids[i] = pid
		logPaths[i] = c.inspect("{{.LogPath}}", n)
		if !strings.HasPrefix(logPaths[i], d.dataRoot+"/") {
			t.Errorf("%s: LogPath %q is not under the data root %s", n, logPaths[i], d.dataRoot)
		}
	}
	for i, n := range names {
		waitFor(t, 20*time.Second, n+"'s log to start", func() bool { return fileSize(logPaths[i]) > 0 })
	}

	d.signal(t, syscall.SIGKILL)

	sizes := make([]int64, len(names))
	for i, n := range names {
		if !processAlive(pids[i]) {
			t.Fatalf("%s (pid %d) died with berthd", n, pids[i])
		}
		sizes[i] = fileSize(logPaths[i])
	}
	// With berthd gone, the shims keep writing the logs.
	for i, n := range names {
		waitFor(t, 20*time.Second, n+"'s log to grow while berthd is down", func() bool { return fileSize(logPaths[i]) > sizes[i] })
	}

	if err := d.start(); err != nil {
		t.Fatalf("restarting berthd on the same roots: %v", err)
	}

	for _, cl := range []*client{docker, c} {
		listed := cl.ok("ps", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}")
		for i, n := range names {
			if !strings.Contains(listed, ids[i]+" "+n+" running\n") {
				t.Errorf("%s ps after the restart does not list %s running:\n%s", cl.name, n, listed)
			}
		}
	}
	for i, n := range names {
		if pid := c.inspect("{{.State.Pid}}", n); pid != strconv.Itoa(pids[i]) {
			t.Errorf("%s: State.Pid %s after the restart, want %d", n, pid, pids[i])
		}
	}

	// No line written while berthd was down is lost.
	last := make([]int, len(names))
	for i, n := range names {
		last[i] = checkCounter(t, n+" logs", c.ok("logs", n), 0)
	}

	// logs -f continues with new lines.
	follow := c.start("logs", "-f", "--tail", "0", names[0])
	want := strconv.Itoa(last[0]+5) + "\n"
	follow.waitOutput(t, 20*time.Second, want)

	// stop works, and the exit code is recorded.
	stopped := c.ok(append([]string{"stop", "-t", "2"}, names...)...)
	for _, n := range names {
		if !strings.Contains(stopped, n+"\n") {
			t.Errorf("stop did not print %s:\n%s", n, stopped)
		}
	}
	if code := follow.wait(t, 20*time.Second); code != 0 {
		t.Errorf("logs -f exited %d when the container stopped", code)
	}
	checkCounter(t, "logs -f after the restart", follow.stdout.String(), -1)
	for i, n := range names {
		state := c.inspect("{{.State.Status}} {{.State.ExitCode}}", n)
		if state != "exited 137" && state != "exited 143" {
			t.Errorf("%s after stop: %q, want exited 137 (or 143)", n, state)
		}
		if processAlive(pids[i]) {
			t.Errorf("%s: pid %d still alive after stop", n, pids[i])
		}
		checkCounter(t, n+" logs after stop", c.ok("logs", n), 0)
	}
}

func TestDaemonSigtermRestartKeepsState(t *testing.T) {
	d := startDaemon(t)
	if err := d.importBusybox(); err != nil {
		t.Fatal(err)
	}
	c := d.client(t, "berth")
	name := c.uniqueName("term")
	id := c.okTrim("create", "--name", name, "busybox", "echo", "kept")
	imgID := imageID(c, "busybox")

	if err := d.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.sock); err == nil {
		t.Errorf("berthd left its socket %s behind after SIGTERM", d.sock)
	}
	if err := d.start(); err != nil {
		t.Fatalf("restarting berthd: %v", err)
	}
	if got := c.inspect("{{.Id}} {{.State.Status}}", name); got != id+" created" {
		t.Errorf("after the restart: %q, want %s created", got, id)
	}
	if got := imageID(c, "busybox"); got != imgID {
		t.Errorf("busybox after the restart: %q, want %s", got, imgID)
	}
	if got := c.ok("start", "-a", name); got != "kept\n" {
		t.Errorf("start -a after the restart printed %q", got)
	}
}
