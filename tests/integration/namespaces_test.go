package integration

import (
	"strings"
	"testing"
	"time"
)

// TestShareNamespaces: --pid and --ipc container:NAME join a running
// container's namespaces, with dockerd's refusals otherwise.
func TestShareNamespaces(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		donor := c.uniqueName("donor")
		c.ok("run", "-d", "--name", donor, "--ipc", "shareable", "busybox", "sh", "-c", "echo shared > /dev/shm/x; exec sleep 1000")
		waitFor(t, 20*time.Second, "the donor's /dev/shm file", func() bool {
			return c.run("exec", donor, "cat", "/dev/shm/x").stdout == "shared\n"
		})
		if out := c.ok("run", "--rm", "--pid", "container:"+donor, "busybox", "ps"); !strings.Contains(out, "sleep 1000") {
			t.Errorf("--pid container: does not see the donor's process:\n%s", out)
		}
		if out := c.ok("run", "--rm", "--ipc", "container:"+donor, "busybox", "cat", "/dev/shm/x"); out != "shared\n" {
			t.Errorf("--ipc container: does not share /dev/shm: %q", out)
		}

		private := c.uniqueName("private")
		c.ok("run", "-d", "--name", private, "busybox", "sleep", "1000")
		if r := c.run("run", "--rm", "--ipc", "container:"+private, "busybox", "true"); r.code == 0 || !strings.Contains(r.stderr, "non-shareable IPC") {
			t.Errorf("joining a private IPC namespace: %s", r)
		}
		c.ok("stop", "-t", "0", private)
		if r := c.run("run", "--rm", "--pid", "container:"+private, "busybox", "true"); r.code == 0 || !strings.Contains(r.stderr, "non running container") {
			t.Errorf("joining a stopped container's PID namespace: %s", r)
		}
		c.ok("rm", "-f", donor, private)
	})
}
