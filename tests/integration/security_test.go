package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecurityOptions: Docker's default capabilities and their changes,
// --privileged on a host without CAP_SYS_RESOURCE, seccomp profiles from a
// file and unconfined, no-new-privileges, a read-only root and --device.
func TestSecurityOptions(t *testing.T) {
	d := sharedDaemon(t)
	profile := filepath.Join(t.TempDir(), "no-mkdir.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	capEff := func(c *client, args ...string) string {
		out := c.ok(append(append([]string{"run", "--rm"}, args...), "busybox", "grep", "CapEff", "/proc/self/status")...)
		return strings.TrimSpace(strings.TrimPrefix(out, "CapEff:"))
	}
	eachClient(t, d, func(t *testing.T, c *client) {
		if got := capEff(c); got != "00000000a80425fb" {
			t.Errorf("default capabilities %s, want Docker's 00000000a80425fb", got)
		}
		if got := capEff(c, "--cap-drop", "ALL"); got != "0000000000000000" {
			t.Errorf("--cap-drop ALL: %s", got)
		}
		if got := capEff(c, "--cap-add", "NET_ADMIN"); got != "00000000a80435fb" {
			t.Errorf("--cap-add NET_ADMIN: %s", got)
		}
		if got := capEff(c, "--privileged"); got == "00000000a80425fb" || got == "0000000000000000" {
			t.Errorf("--privileged kept the default set: %s", got)
		}
		if r := c.run("run", "--rm", "--cap-add", "NOPE", "busybox", "true"); r.code != 125 || !strings.Contains(r.stderr, "CAP_NOPE") {
			t.Errorf("unknown capability: %s", r)
		}
		if r := c.run("run", "--rm", "--security-opt", "seccomp="+profile, "busybox", "mkdir", "/x"); r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("seccomp profile from a file: %s", r)
		}
		if out := c.ok("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "grep", "^Seccomp:", "/proc/self/status"); !strings.Contains(out, "0") {
			t.Errorf("seccomp=unconfined: %q", out)
		}
		// The default profile (compiled by berthd where the runtime is
		// crun): a user namespace needs CAP_SYS_ADMIN's rules, and
		// personality is allowed only with the values Docker lists.
		if r := c.run("run", "--rm", "busybox", "unshare", "-U", "true"); r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("default profile, unshare -U: %s", r)
		}
		c.ok("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "unshare", "-U", "true")
		if out := c.ok("run", "--rm", "busybox", "linux32", "uname", "-m"); out != "i686\n" {
			t.Errorf("default profile, personality(PER_LINUX32): %q", out)
		}
		if out := c.ok("run", "--rm", "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status"); !strings.Contains(out, "1") {
			t.Errorf("no-new-privileges: %q", out)
		}
		if r := c.run("run", "--rm", "--read-only", "busybox", "touch", "/x"); r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
			t.Errorf("--read-only: %s", r)
		}
		if out := c.ok("run", "--rm", "--device", "/dev/null:/dev/mynull", "busybox", "sh", "-c", "echo x > /dev/mynull && echo written"); out != "written\n" {
			t.Errorf("--device: %q", out)
		}
	})
}
