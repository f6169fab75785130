package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestRunExitCodes(t *testing.T) {
	d := sharedDaemon(t)
	cases := []struct {
		doc        string
		args       []string
		code       int
		wantStderr bool
	}{
		{"the command's own status", []string{"run", "--rm", "busybox", "false"}, 1, false},
		{"status passed through", []string{"run", "--rm", "busybox", "sh", "-c", "exit 42"}, 42, false},
		{"command not found", []string{"run", "--rm", "busybox", "/nope"}, 127, true},
		{"command not executable", []string{"run", "--rm", "busybox", "/etc"}, 126, true},
		{"unknown flag", []string{"run", "--bogus", "busybox"}, 125, true},
		{"unknown image", []string{"run", "--rm", "it-no-such-image:never"}, 125, true},
	}
	eachClient(t, d, func(t *testing.T, c *client) {
		before := containerSet(c)
		for _, tc := range cases {
			r := c.run(tc.args...)
			if r.code != tc.code {
				t.Errorf("%s: %s %s: want exit %d, got %s", tc.doc, c.name, strings.Join(tc.args, " "), tc.code, r)
			}
			if tc.wantStderr && strings.TrimSpace(r.stderr) == "" {
				t.Errorf("%s: %s: no error message on stderr", tc.doc, strings.Join(tc.args, " "))
			}
		}
		if after := containerSet(c); after != before {
			t.Errorf("run --rm left containers behind:\nbefore: %s\nafter:  %s", before, after)
		}
	})
}

// netDevs lists the interface names in a /proc/net/dev listing.
func netDevs(procNetDev string) []string {
	var names []string
	for _, l := range lines(procNetDev) {
		name, _, ok := strings.Cut(l, ":")
		if !ok || strings.Contains(name, "|") {
			continue // the two header lines
		}
		names = append(names, strings.TrimSpace(name))
	}
	sort.Strings(names)
	return names
}

func TestRunOptions(t *testing.T) {
	d := sharedDaemon(t)
	hostDev, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	hostIfaces := strings.Join(netDevs(string(hostDev)), " ")
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/usr/bin/tini-static"); err != nil {
		if _, err2 := os.Stat("/usr/bin/tini"); err2 != nil {
			t.Fatalf("--init needs Debian's tini (scripts/deps.sh installs it): %v", err)
		}
	}

	cases := []struct {
		doc   string
		env   []string // in the CLI's environment
		args  []string // after `run --rm`
		check func(out string) error
	}{
		{"echo", nil, []string{"busybox", "echo", "hello"}, equals("hello\n")},
		{"-e sets a variable", nil, []string{"-e", "FOO=bar", "busybox", "env"}, hasLine("FOO=bar")},
		{"-e VAR takes the caller's value", []string{"IT_FROM_HOST=yes"}, []string{"-e", "IT_FROM_HOST", "busybox", "env"}, hasLine("IT_FROM_HOST=yes")},
		{"default environment", nil, []string{"busybox", "env"}, hasLine("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")},
		{"-w", nil, []string{"-w", "/tmp", "busybox", "pwd"}, equals("/tmp\n")},
		{"-w makes a missing directory", nil, []string{"-w", "/made/by/run", "busybox", "pwd"}, equals("/made/by/run\n")},
		{"-u uid:gid", nil, []string{"-u", "1000:1000", "busybox", "id"}, matches(`^uid=1000 gid=1000\b`)},
		{"-u name", nil, []string{"-u", "nobody", "busybox", "id"}, matches(`^uid=65534\(nobody\) gid=65534\(nobody\)`)},
		{"default user", nil, []string{"busybox", "id"}, matches(`^uid=0\(root\) gid=0\(root\)`)},
		{"--hostname", nil, []string{"--hostname", "it-host", "busybox", "hostname"}, equals("it-host\n")},
		{"--hostname in /etc/hostname", nil, []string{"--hostname", "it-host", "busybox", "cat", "/etc/hostname"}, equals("it-host\n")},
		{"--entrypoint", nil, []string{"--entrypoint", "echo", "busybox", "hi", "there"}, equals("hi there\n")},
		{"--entrypoint \"\" clears it", nil, []string{"--entrypoint", "", "busybox", "echo", "hi"}, equals("hi\n")},
		{"--init runs docker-init as PID 1", nil, []string{"--init", "busybox", "ps", "-o", "pid,args"}, pid1Matches(`docker-init`)},
		{"no --init: the command is PID 1", nil, []string{"busybox", "ps", "-o", "pid,args"}, pid1Matches(`^ps -o pid,args$`)},
		{"--network none: loopback only", nil, []string{"--network", "none", "busybox", "cat", "/proc/net/dev"}, ifaces("lo")},
		{"default network: eth0 on the bridge and lo", nil, []string{"busybox", "cat", "/proc/net/dev"}, ifaces("eth0 lo")},
		{"--network host: the host's interfaces", nil, []string{"--network", "host", "busybox", "cat", "/proc/net/dev"}, hostIfacesCheck(hostIfaces)},
		{"--network host: the host's name", nil, []string{"--network", "host", "busybox", "hostname"}, equals(hostname + "\n")},
		{"stdin with -i", nil, []string{"-i", "busybox", "cat"}, equals("")},
		{"resolv.conf exists", nil, []string{"busybox", "test", "-f", "/etc/resolv.conf"}, equals("")},
		{"hosts has localhost", nil, []string{"busybox", "cat", "/etc/hosts"}, matches(`(?m)^127\.0\.0\.1\s+localhost`)},
	}
	eachClient(t, d, func(t *testing.T, c *client) {
		for _, tc := range cases {
			args := append([]string{"run", "--rm"}, tc.args...)
			r := c.runWith(nil, tc.env, args...)
			if r.code != 0 {
				t.Errorf("%s: %s %s: %s", tc.doc, c.name, strings.Join(args, " "), r)
				continue
			}
			if err := tc.check(r.stdout); err != nil {
				t.Errorf("%s: %s %s: %v", tc.doc, c.name, strings.Join(args, " "), err)
			}
		}
	})
}

func equals(want string) func(string) error {
	return func(got string) error {
		if got != want {
			return fmt.Errorf("printed %q, want %q", got, want)
		}
		return nil
	}
}

func hasLine(want string) func(string) error {
	return func(got string) error {
		for _, l := range lines(got) {
			if l == want {
				return nil
			}
		}
		return fmt.Errorf("no line %q in %q", want, got)
	}
}

func matches(re string) func(string) error {
	rx := regexp.MustCompile(re)
	return func(got string) error {
		if !rx.MatchString(got) {
			return fmt.Errorf("printed %q, which does not match %s", got, re)
		}
		return nil
	}
}

// pid1Matches checks the args of PID 1 in `ps -o pid,args` output.
func pid1Matches(re string) func(string) error {
	rx := regexp.MustCompile(re)
	return func(got string) error {
		for _, l := range lines(got) {
			f := strings.Fields(l)
			if len(f) >= 2 && f[0] == "1" {
				if args := strings.Join(f[1:], " "); !rx.MatchString(args) {
					return fmt.Errorf("PID 1 is %q, which does not match %s", args, re)
				}
				return nil
			}
		}
		return fmt.Errorf("no PID 1 in %q", got)
	}
}

// ifaces checks a /proc/net/dev listing names exactly these interfaces.
func ifaces(want string) func(string) error {
	return func(got string) error {
		if have := strings.Join(netDevs(got), " "); have != want {
			return fmt.Errorf("interfaces %q, want %q", have, want)
		}
		return nil
	}
}

// hostIfacesCheck checks a /proc/net/dev listing names the host's
// interfaces, as read before the container ran or as they are now (another
// program may add or remove one meanwhile).
func hostIfacesCheck(before string) func(string) error {
	return func(got string) error {
		now, err := os.ReadFile("/proc/net/dev")
		if err != nil {
			return err
		}
		have := strings.Join(netDevs(got), " ")
		if after := strings.Join(netDevs(string(now)), " "); have != before && have != after {
			return fmt.Errorf("interfaces %q, want the host's %q", have, after)
		}
		return nil
	}
}

// containerSet is every container's ID, name and state, for before/after
// comparisons.
func containerSet(c *client) string {
	c.t.Helper()
	rows := lines(c.ok("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}"))
	sort.Strings(rows)
	return strings.Join(rows, "; ")
}

// imageSet is every image's ID and reference, for before/after comparisons.
func imageSet(c *client) string {
	c.t.Helper()
	rows := lines(c.ok("images", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"))
	sort.Strings(rows)
	return strings.Join(rows, "; ")
}

// unixNano formats t as the CLI's --since/--until take it: seconds.nanoseconds.
func unixNano(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

func TestEventsSinceUntil(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("events")
		since := time.Now().Add(-time.Second)
		id := c.okTrim("create", "--name", name, "busybox", "true")
		c.ok("start", "-a", name)

		// The die event may be logged a moment after start -a returns (as in
		// dockerd, where waiters wake before the event is logged), so ask
		// again, with a later --until, until it is there.
		re := regexp.MustCompile(`^\S+ container (\w+) ` + id + ` \(.*name=` + regexp.QuoteMeta(name) + `.*\)$`)
		var until time.Time
		var out string
		var actions, core []string
		found := pollUntil(time.Now().Add(10*time.Second), func() bool {
			until = time.Now()
			out = c.ok("events", "--since", unixNano(since), "--until", unixNano(until), "--filter", "container="+name)
			actions, core = nil, nil
			for _, l := range lines(out) {
				if m := re.FindStringSubmatch(l); m != nil {
					actions = append(actions, m[1])
					if m[1] == "create" || m[1] == "start" || m[1] == "die" {
						core = append(core, m[1])
					}
				}
			}
			return len(core) > 0 && core[len(core)-1] == "die"
		})
		if !found {
			t.Errorf("events: no die event for %s within 10s of its exit", name)
		}
		if strings.Join(core, " ") != "create start die" {
			t.Errorf("events --since --until: container actions %v, want create, start, die in order; output:\n%s", actions, out)
		}

		// A window before the container existed shows none of it.
		early := c.ok("events", "--since", unixNano(since.Add(-time.Minute)), "--until", unixNano(since), "--filter", "container="+name)
		if strings.TrimSpace(early) != "" {
			t.Errorf("events before the container existed:\n%s", early)
		}
		if got := c.okTrim("events", "--since", unixNano(since), "--until", unixNano(until), "--filter", "container="+name, "--filter", "event=die", "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}"); got != "die 0" {
			t.Errorf("events --filter event=die --format: %q, want %q", got, "die 0")
		}
	})
}

// TestAutoRemoveLeavesNothing checks that `run --rm` leaves nothing of the
// container on the host: not its bundle, not the runtime's state, not its
// cgroups. The runtime's delete removes the last two, and runs in the
// bundle: the bundle must outlive it.
func TestAutoRemoveLeavesNothing(t *testing.T) {
	d := startDaemon(t)
	if err := d.importBusybox(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	eachClient(t, d, func(t *testing.T, c *client) {
		cidfile := filepath.Join(t.TempDir(), "cid")
		c.ok("run", "--rm", "--cidfile", cidfile, "--network", "none", "busybox", "true")
		data, err := os.ReadFile(cidfile)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strings.TrimSpace(string(data)))
	})
	// An auto-removal finishes its clean-up in the background; a clean
	// shutdown waits for it.
	if err := d.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		left, _ := filepath.Glob(filepath.Join(d.execRoot, "runtime", "*", id))
		left = append(left, cgroupDirsNamed(id)...)
		if _, err := os.Stat(filepath.Join(d.execRoot, "containers", id)); err == nil {
			left = append(left, filepath.Join(d.execRoot, "containers", id))
		}
		if len(left) > 0 {
			t.Errorf("run --rm left %s behind: %s", id[:12], strings.Join(left, ", "))
		}
	}
}

// cgroupDirsNamed lists the cgroup directories named name, in every
// hierarchy (cgroup v1's controllers, or v2's single tree).
func cgroupDirsNamed(name string) []string {
	var found []string
	for _, pattern := range []string{"/sys/fs/cgroup/*/*/" + name, "/sys/fs/cgroup/*/" + name, "/sys/fs/cgroup/*/*/*/" + name} {
		m, _ := filepath.Glob(pattern)
		found = append(found, m...)
	}
	return found
}

// TestShimRunsSealedRuntime: the shim runs the runtime from the sealed
// in-memory copy berthd hands it (so runc and crun need not copy or
// re-execute themselves on every command), and exec still works.
func TestShimRunsSealedRuntime(t *testing.T) {
	d := sharedDaemon(t)
	c := d.client(t, "docker")
	id := c.okTrim("run", "-d", "--network", "none", "busybox", "sleep", "60")
	defer c.run("rm", "-f", id)
	bundle := filepath.Join(d.execRoot, "containers", id)
	cfg, err := os.ReadFile(filepath.Join(bundle, "shim.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), `"sealed_runtime":true`) {
		t.Fatalf("shim.json does not name a sealed runtime: %s", cfg)
	}
	shimPid := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.Contains(string(cmdline), "berth-shim") && strings.HasSuffix(strings.TrimRight(string(cmdline), "\x00"), bundle) {
			fmt.Sscan(e.Name(), &shimPid)
		}
	}
	if shimPid == 0 {
		t.Fatal("no shim process found for the container")
	}
	target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/4", shimPid))
	if err != nil || !strings.HasPrefix(target, "/memfd:") {
		t.Fatalf("shim's descriptor 4 is %q (%v), want the sealed runtime", target, err)
	}
	if out := c.ok("exec", id, "echo", "exec-ok"); out != "exec-ok\n" {
		t.Fatalf("exec through the sealed runtime: %q", out)
	}
}
