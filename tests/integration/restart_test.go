package integration

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRestartPolicyAndHealth is issue 4's scenario: an unless-stopped
// container with a health check goes starting → unhealthy → healthy as the
// file appears; killing its process restarts it, stop does not; after
// berthd is SIGKILLed and restarted it is up again with the right count.
func TestRestartPolicyAndHealth(t *testing.T) {
	d := startDaemon(t)
	if err := d.importBusybox(); err != nil {
		t.Fatal(err)
	}
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("policy")
		c.ok("run", "-d", "--name", name, "--restart=unless-stopped",
			"--health-cmd", "test -f /tmp/ok", "--health-interval=1s", "--health-retries=2",
			"busybox", "sleep", "1000")
		health := func() string { return c.inspect("{{.State.Health.Status}}", name) }
		if got := health(); got != "starting" {
			t.Errorf("health right after start: %q, want starting", got)
		}
		waitFor(t, 30*time.Second, "unhealthy", func() bool { return health() == "unhealthy" })
		if ps := c.ok("ps", "--filter", "name="+name, "--format", "{{.Status}}"); !strings.Contains(ps, "(unhealthy)") {
			t.Errorf("ps status %q lacks (unhealthy)", ps)
		}
		c.ok("exec", name, "touch", "/tmp/ok")
		waitFor(t, 30*time.Second, "healthy", func() bool { return health() == "healthy" })
		if got := c.ok("ps", "--filter", "health=healthy", "--format", "{{.Names}}"); !strings.Contains(got, name) {
			t.Errorf("ps --filter health=healthy: %q", got)
		}
		// --until takes whole seconds (the CLI drops the fraction): ask up
		// to the next second so that the events of this one are included.
		until := strconv.FormatInt(time.Now().Unix()+1, 10)
		events := c.ok("events", "--since", "60s", "--until", until, "--filter", "container="+name, "--format", "{{.Action}}")
		if !strings.Contains(events, "health_status: unhealthy") || !strings.Contains(events, "health_status: healthy") {
			t.Errorf("events lack the health transitions:\n%s", events)
		}

		// The process dying restarts it (a new pid), and counts.
		pid := c.inspect("{{.State.Pid}}", name)
		killPid(t, pid)
		waitFor(t, 30*time.Second, "restart by policy", func() bool {
			return c.inspect("{{.State.Status}} {{.RestartCount}}", name) == "running 1" && c.inspect("{{.State.Pid}}", name) != pid
		})

		// berthd SIGKILLed; the container's process dies meanwhile: the
		// restarted daemon restarts it per policy and counts it.
		pid = c.inspect("{{.State.Pid}}", name)
		d.signal(t, syscall.SIGKILL)
		killPid(t, pid)
		if err := d.start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "restart after the daemon came back", func() bool {
			return c.inspect("{{.State.Status}} {{.RestartCount}}", name) == "running 2"
		})

		// stop does not restart it.
		c.ok("stop", "-t", "1", name)
		if got := c.inspect("{{.State.Status}}", name); got != "exited" {
			t.Errorf("after stop: %q, want exited", got)
		}
		// Nor does a daemon restart (unless-stopped).
		if err := d.stop(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		if err := d.start(); err != nil {
			t.Fatal(err)
		}
		if got := c.inspect("{{.State.Status}}", name); got != "exited" {
			t.Errorf("unless-stopped after a daemon restart: %q, want exited", got)
		}
		c.ok("rm", "-f", name)
	})
}

// TestRestartOnFailureCount: on-failure:2 gives up after two restarts.
func TestRestartOnFailureCount(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("onfail")
		c.ok("run", "-d", "--name", name, "--restart=on-failure:2", "busybox", "sh", "-c", "exit 3")
		waitFor(t, 30*time.Second, "two restarts, then rest", func() bool {
			return c.inspect("{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", name) == "exited 2 3"
		})
		c.ok("rm", name)
	})
}

func killPid(t *testing.T, pid string) {
	t.Helper()
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		t.Fatalf("bad pid %q", pid)
	}
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", n, err)
	}
}
