package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOwnCgroupProcs(t *testing.T) {
	root := t.TempDir() // not a cgroup2 mount: the v1 layout
	for _, d := range []string{"pids/user.slice", "systemd/user.slice/x"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d, "cgroup.procs"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	self := filepath.Join(t.TempDir(), "cgroup")
	write := func(s string) {
		if err := os.WriteFile(self, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("9:name=systemd:/user.slice/x\n8:pids:/user.slice\n0::/\n")
	if got, want := ownCgroupProcs(self, root), filepath.Join(root, "systemd/user.slice/x/cgroup.procs"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	write("4:memory:/elsewhere\n8:pids:/user.slice\n")
	if got, want := ownCgroupProcs(self, root), filepath.Join(root, "pids/user.slice/cgroup.procs"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	write("0::/user.slice\n") // v2 only, but root is not cgroup2
	if got := ownCgroupProcs(self, root); got != "" {
		t.Errorf("got %q, want none", got)
	}
}

// Priming writes berthd's pid to its own cgroup: it stays where it was.
func TestPrimeCgroupMigrationStays(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("writing cgroup.procs needs root")
	}
	procs := ownCgroupProcs("/proc/self/cgroup", "/sys/fs/cgroup")
	if procs == "" {
		t.Skip("no cgroup hierarchy found")
	}
	before, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if err := primeNow(procs); err != nil {
		t.Fatalf("priming write to %s: %v", procs, err)
	}
	after, _ := os.ReadFile("/proc/self/cgroup")
	if string(before) != string(after) {
		t.Fatalf("the process moved:\n%s\n%s", before, after)
	}
}
