package shim_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

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
	hasUnified := func(mountinfo string) bool {
		for _, l := range strings.Split(mountinfo, "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[4] == unifiedMount {
				return true
			}
		}
		return false
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
