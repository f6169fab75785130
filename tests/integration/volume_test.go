package integration

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestVolumeLifecycle: create, ls (-q, --filter), inspect, rm and prune
// with both CLIs, as a user would type them.
func TestVolumeLifecycle(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("vol")
		other := c.uniqueName("vol")
		label := "it.owner=" + name
		t.Cleanup(func() {
			for _, n := range []string{name, other} {
				_, _, _, _ = d.api("DELETE", "/volumes/"+n+"?force=1", "", nil)
			}
		})

		if got := c.okTrim("volume", "create", "--label", label, name); got != name {
			t.Fatalf("volume create printed %q", got)
		}
		c.ok("volume", "create", "--label", label, "--label", "it.extra=yes", other)

		if ids := lines(c.ok("volume", "ls", "-q")); !slices.Contains(ids, name) || !slices.Contains(ids, other) {
			t.Fatalf("volume ls -q: %v", ids)
		}
		filtered := lines(c.ok("volume", "ls", "-q", "--filter", "label=it.extra=yes", "--filter", "label="+label))
		if !slices.Equal(filtered, []string{other}) {
			t.Fatalf("ls --filter label: %v", filtered)
		}
		if got := lines(c.ok("volume", "ls", "-q", "--filter", "name="+name)); !slices.Equal(got, []string{name}) {
			t.Fatalf("ls --filter name: %v", got)
		}
		if got := lines(c.ok("volume", "ls", "-q", "--filter", "dangling=true", "--filter", "label="+label)); len(got) != 2 {
			t.Fatalf("ls --filter dangling=true: %v", got)
		}
		if got := c.okTrim("volume", "inspect", "--format", "{{.Mountpoint}}", name); got != filepath.Join(d.dataRoot, "volumes", name, "_data") {
			t.Fatalf("inspect Mountpoint: %q", got)
		}
		if got := c.okTrim("volume", "inspect", "--format", "{{.Driver}} {{.Scope}} {{index .Labels \"it.owner\"}}", name); got != "local local "+name {
			t.Fatalf("inspect: %q", got)
		}

		c.ok("volume", "rm", name)
		r := c.expectExit(1, "volume", "inspect", name)
		if !strings.Contains(r.stderr, "no such volume") {
			t.Fatalf("inspect after rm: %s", r)
		}
		r = c.expectExit(1, "volume", "rm", name)
		if !strings.Contains(r.stderr, "no such volume") {
			t.Fatalf("rm of a removed volume: %s", r)
		}
		c.ok("volume", "rm", "-f", name)

		// Named volumes survive a plain prune; -a takes them.
		c.ok("volume", "prune", "-f", "--filter", "label="+label)
		if got := c.okTrim("volume", "ls", "-q", "--filter", "name="+other); got != other {
			t.Fatalf("plain prune removed a named volume: %q", got)
		}
		out := c.ok("volume", "prune", "-a", "-f", "--filter", "label="+label)
		if !strings.Contains(out, other) || !strings.Contains(out, "Total reclaimed space") {
			t.Fatalf("prune -a output: %s", out)
		}
		if got := c.okTrim("volume", "ls", "-q", "--filter", "label="+label); got != "" {
			t.Fatalf("after prune -a: %q", got)
		}
	})
}

// TestVolumeCreateOptions: the local driver's options as dockerd takes and
// refuses them.
func TestVolumeCreateOptions(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("tmpvol")
		t.Cleanup(func() { _, _, _, _ = d.api("DELETE", "/volumes/"+name+"?force=1", "", nil) })
		c.ok("volume", "create", "--driver", "local", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=8m", name)
		if got := c.okTrim("volume", "inspect", "--format", "{{.Options.type}} {{.Options.device}} {{.Options.o}}", name); got != "tmpfs tmpfs size=8m" {
			t.Fatalf("inspect Options: %q", got)
		}

		bad := []struct {
			doc  string
			args []string
			msg  string
		}{
			{"slash in name", []string{"a/b"}, `"a/b" includes invalid characters for a local volume name`},
			{"unknown option", []string{"--opt", "colour=red", c.uniqueName("v")}, `invalid option key: "colour"`},
			{"size without quotas", []string{"--opt", "size=10m", c.uniqueName("v")}, "quota size requested but no quota support"},
			{"unknown driver", []string{"--driver", "nosuchplugin", c.uniqueName("v")}, `plugin "nosuchplugin" not found`},
		}
		for _, tc := range bad {
			t.Run(tc.doc, func(t *testing.T) {
				r := c.expectExit(1, append([]string{"volume", "create"}, tc.args...)...)
				if !strings.Contains(r.stderr, tc.msg) {
					t.Fatalf("want %q in %s", tc.msg, r)
				}
			})
		}
	})
}
