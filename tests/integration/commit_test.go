package integration

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var committedID = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// removeImageAtEnd deletes ref when the test ends (after its containers,
// which were registered earlier and so are removed later: clean-ups run
// last first, and rmi -f takes the name off even while one still exists).
func removeImageAtEnd(t *testing.T, d *daemon, ref string) {
	t.Cleanup(func() {
		if d.running() {
			_, _, _, _ = d.api("DELETE", "/images/"+ref+"?force=1", "", nil)
		}
	})
}

// TestDiffCommitHistory: a changed container's diff, a commit of it with a
// message and a new command, the image's history, and a container run
// from it that sees the change.
func TestDiffCommitHistory(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("commit")
		repo := c.uniqueName("img")
		removeImageAtEnd(t, d, repo+":v1")
		c.ok("run", "-d", "--name", name, "busybox", "sh", "-c",
			"echo committed > /tmp/x; rm /etc/passwd; echo ready; exec sleep 300")
		waitFor(t, 20*time.Second, "the changes", func() bool { return strings.Contains(c.ok("logs", name), "ready") })

		want := "C /etc\nD /etc/passwd\nC /tmp\nA /tmp/x\n"
		if got := c.ok("diff", name); got != want {
			t.Errorf("diff:\n%s\nwant:\n%s", got, want)
		}
		if got := c.ok("container", "diff", name); got != want {
			t.Errorf("container diff:\n%s", got)
		}

		id := c.okTrim("commit", "-m", "added x", "-a", "Tester <t@example.com>",
			"--change", `CMD ["cat","/tmp/x"]`, name, repo+":v1")
		if !committedID.MatchString(id) {
			t.Fatalf("commit printed %q, want sha256:<64 hex>", id)
		}
		if got := c.inspect("{{.State.Status}} {{.State.Paused}}", name); got != "running false" {
			t.Errorf("after commit (paused while it ran): %q, want running false", got)
		}
		if got := c.okTrim("image", "inspect", "-f", "{{.Id}}|{{.Comment}}|{{.Author}}|{{json .Config.Cmd}}", repo+":v1"); got != id+`|added x|Tester <t@example.com>|["cat","/tmp/x"]` {
			t.Errorf("image inspect: %q", got)
		}
		hist := lines(c.ok("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}", repo+":v1"))
		if len(hist) < 2 || !strings.HasPrefix(hist[0], id+"|sh -c echo committed > /tmp/x; rm /etc/passwd; echo ready; exec sleep 300|added x") {
			t.Errorf("history:\n%s", strings.Join(hist, "\n"))
		}
		base := c.okTrim("image", "inspect", "-f", "{{len .RootFS.Layers}}", "busybox")
		if got := c.okTrim("image", "inspect", "-f", "{{len .RootFS.Layers}}", repo+":v1"); got != strconv.Itoa(atoi(t, base)+1) {
			t.Errorf("committed image has %s layers, busybox %s", got, base)
		}

		if got := c.ok("run", "--rm", repo+":v1"); got != "committed\n" {
			t.Errorf("run of the committed image printed %q", got)
		}
		r := c.expectExit(1, "run", "--rm", repo+":v1", "ls", "/etc/passwd")
		if !strings.Contains(r.stderr+r.stdout, "No such file") {
			t.Errorf("/etc/passwd in the committed image: %s", r)
		}
		// A fresh container of the committed image has no changes of its own.
		fresh := c.uniqueName("fresh")
		c.ok("create", "--name", fresh, repo+":v1")
		if got := c.ok("diff", fresh); got != "" {
			t.Errorf("diff of a fresh container:\n%s", got)
		}

		r = c.expectExit(1, "diff", "it-no-such-container")
		if !strings.Contains(r.stderr, "No such container: it-no-such-container") {
			t.Errorf("diff of an unknown container: %s", r)
		}
		r = c.expectExit(1, "commit", "--change", "BOGUS x", name)
		if !strings.Contains(r.stderr, "not a valid change command") {
			t.Errorf("commit with a bad change: %s", r)
		}
	})
}

// TestCommitUnchanged: a stopped container without changes still gives a
// new image, with an empty history step and no new layer.
func TestCommitUnchanged(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("same")
		c.ok("run", "--name", name, "busybox", "true")
		id := c.okTrim("commit", name)
		if !committedID.MatchString(id) {
			t.Fatalf("commit printed %q", id)
		}
		removeImageAtEnd(t, d, id)
		base := c.okTrim("image", "inspect", "-f", "{{len .RootFS.Layers}}", "busybox")
		if got := c.okTrim("image", "inspect", "-f", "{{len .RootFS.Layers}} {{json .Config.Cmd}}", id); got != base+` ["true"]` {
			t.Errorf("unchanged commit: %q, want %s layers and the container's command", got, base)
		}
		top := lines(c.ok("history", "--format", "{{.CreatedBy}}|{{.Size}}", id))
		if len(top) == 0 || top[0] != "true|0B" {
			t.Errorf("history: %q", top)
		}
	})
}

func TestTop(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("top")
		c.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
		pid := c.inspect("{{.State.Pid}}", name)

		out := lines(c.ok("top", name))
		if len(out) != 2 || !strings.HasPrefix(out[0], "UID") || !strings.Contains(out[0], "PID") {
			t.Fatalf("top:\n%s", strings.Join(out, "\n"))
		}
		if f := strings.Fields(out[1]); len(f) < 8 || f[1] != pid || strings.Join(f[7:], " ") != "sleep 300" {
			t.Errorf("top line %q, want PID %s running sleep 300", out[1], pid)
		}
		out = lines(c.ok("top", name, "-o", "pid,comm"))
		if len(out) != 2 || strings.Join(strings.Fields(out[0]), " ") != "PID COMMAND" || strings.Join(strings.Fields(out[1]), " ") != pid+" sleep" {
			t.Errorf("top -o pid,comm:\n%s", strings.Join(out, "\n"))
		}
		// An exec'd process is in the container too.
		c.ok("exec", "-d", name, "sleep", "299")
		waitFor(t, 20*time.Second, "the exec in top", func() bool { return strings.Contains(c.ok("top", name), "sleep 299") })

		r := c.expectExit(1, "top", name, "--no-such-option")
		if !strings.Contains(r.stderr, "ps: ") {
			t.Errorf("top with a bad ps option: %s", r)
		}
		c.ok("kill", name)
		r = c.expectExit(1, "top", name)
		if !strings.Contains(r.stderr, "is not running") {
			t.Errorf("top of a stopped container: %s", r)
		}
	})
}

func TestPauseUnpause(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("pause")
		c.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
		// --since replays what happened before the stream was open, so the
		// top below is seen whichever comes first; seeing it means the
		// stream is live.
		since := strconv.FormatInt(time.Now().Unix()-1, 10)
		c.ok("top", name)
		events := c.start("events", "--since", since, "--filter", "container="+name, "--format", "{{.Action}}")
		events.waitOutput(t, 20*time.Second, "top")

		if got := c.okTrim("pause", name); got != name {
			t.Errorf("pause printed %q", got)
		}
		if got := c.inspect("{{.State.Status}} {{.State.Paused}} {{.State.Running}}", name); got != "paused true true" {
			t.Errorf("inspect after pause: %q", got)
		}
		if got := c.okTrim("ps", "--filter", "name="+name, "--format", "{{.Status}}"); !regexp.MustCompile(`^Up .* \(Paused\)$`).MatchString(got) {
			t.Errorf("ps status %q, want Up … (Paused)", got)
		}
		r := c.expectExit(1, "pause", name)
		if !strings.Contains(r.stderr, "is already paused") {
			t.Errorf("pause of a paused container: %s", r)
		}
		r = c.expectExit(1, "exec", name, "true")
		if !strings.Contains(r.stderr, "paused") {
			t.Errorf("exec in a paused container: %s", r)
		}
		if got := c.okTrim("unpause", name); got != name {
			t.Errorf("unpause printed %q", got)
		}
		if got := c.inspect("{{.State.Status}} {{.State.Paused}}", name); got != "running false" {
			t.Errorf("inspect after unpause: %q", got)
		}
		r = c.expectExit(1, "unpause", name)
		if !strings.Contains(r.stderr, "is not paused") {
			t.Errorf("unpause of a running container: %s", r)
		}
		c.ok("exec", name, "true")
		events.waitOutput(t, 20*time.Second, "unpause\n")
		if ev := events.stdout.String(); !strings.Contains(ev, "\npause\n") || strings.Index(ev, "\npause\n") > strings.Index(ev, "\nunpause\n") {
			t.Errorf("events:\n%s\nwant pause, then unpause", ev)
		}

		// A paused container can be killed.
		c.ok("pause", name)
		c.ok("kill", name)
		waitFor(t, 20*time.Second, "the paused container to die of kill", func() bool {
			return c.inspect("{{.State.Status}} {{.State.ExitCode}}", name) == "exited 137"
		})
		r = c.expectExit(1, "pause", name)
		if !strings.Contains(r.stderr, "is not running") {
			t.Errorf("pause of a stopped container: %s", r)
		}
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
