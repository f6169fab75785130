package shim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bruntime "berth/internal/runtime"
	"berth/internal/shim"
)

// unifiedMount is where a hybrid host mounts cgroup v2.
const unifiedMount = "/sys/fs/cgroup/unified"

// TestV1View runs a command through `berth-shim --v1-view --`: inside, the
// hybrid layout's cgroup v2 mount is gone; outside, it is still there.
func TestV1View(t *testing.T) {
	if testEnv.skip != "" {
		t.Skip(testEnv.skip)
	}
	if !shim.HybridV2Controllers() {
		t.Skip("not a hybrid cgroup host with controllers on cgroup v2: crun needs no v1 view here")
	}
	out, err := exec.Command(testEnv.shimBin, shim.V1ViewFlag, "--", "/bin/cat", "/proc/self/mountinfo").CombinedOutput()
	if err != nil {
		t.Fatalf("berth-shim %s: %v\n%s", shim.V1ViewFlag, err, out)
	}
	if hasUnified(string(out)) {
		t.Errorf("%s is still mounted in the v1 view", unifiedMount)
	}
	host, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if !hasUnified(string(host)) {
		t.Fatalf("the v1 view unmounted %s on the host too", unifiedMount)
	}
}

// hasUnified reports whether a mountinfo listing has the v2 hierarchy.
func hasUnified(mountinfo string) bool {
	for _, l := range strings.Split(mountinfo, "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == unifiedMount {
			return true
		}
	}
	return false
}

// TestLaunchInV1View launches a crun container as berthd does on a hybrid
// host: the shim starts in a mount namespace of its own, which it makes
// the v1 view, and runs crun from a sealed copy.
func TestLaunchInV1View(t *testing.T) {
	if testEnv.skip != "" {
		t.Skip(testEnv.skip)
	}
	if !shim.HybridV2Controllers() {
		t.Skip("not a hybrid cgroup host with controllers on cgroup v2: crun needs no v1 view here")
	}
	crun, err := exec.LookPath("crun")
	if err != nil {
		t.Skip("crun is not installed")
	}
	b := newBox(t, boxOpts{args: []string{"sleep", "60"}})
	b.cfg.Runtime = crun
	b.cfg.RuntimeRoot = filepath.Join(filepath.Dir(b.cfg.Bundle), "crun")
	b.cfg.V1View = true
	if b.cfg.RuntimeFile, err = bruntime.NewSealedBinary(crun).File(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := b.launch(ctx)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	view, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", s.ShimPid()))
	if err != nil {
		t.Fatal(err)
	}
	if hasUnified(string(view)) {
		t.Errorf("%s is still mounted in the shim's view", unifiedMount)
	}
	host, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if !hasUnified(string(host)) {
		t.Fatalf("the shim unmounted %s on the host", unifiedMount)
	}
	if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", s.ShimPid(), shim.RuntimeFD)); err != nil || !strings.HasPrefix(target, "/memfd:") {
		t.Errorf("shim's runtime descriptor is %q (%v)", target, err)
	}
	if err := s.Kill(ctx, syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	if st, err := b.exitStatus(ctx, s); err != nil || st.Code != 137 {
		t.Fatalf("exit %+v, %v; want 137", st, err)
	}
}

// A shim told to make the view in its parent's mount namespace refuses:
// the unmount would be the host's.
func TestEnterV1ViewRefusesHostNamespace(t *testing.T) {
	if testEnv.skip != "" {
		t.Skip(testEnv.skip)
	}
	b := newBox(t, boxOpts{args: []string{"true"}})
	b.cfg.V1View = true
	data, err := json.Marshal(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.cfg.Bundle, shim.ConfigFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(testEnv.shimBin, b.cfg.Bundle).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not in a mount namespace of its own") {
		t.Fatalf("shim in the host's namespace: %v\n%s", err, out)
	}
	host, _ := os.ReadFile("/proc/self/mountinfo")
	if shim.HybridV2Controllers() && !hasUnified(string(host)) {
		t.Fatalf("%s was unmounted on the host", unifiedMount)
	}
}
