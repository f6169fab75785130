package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// busyboxRootfs builds a minimal root file system from the host's static
// busybox: /bin/busybox plus its applet links, and an /etc/passwd.
func busyboxRootfs(t *testing.T, dir string) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox (busybox-static) is not installed")
	}
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src, err := os.Open(bb)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(rootfs, "bin", "busybox"), os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chroot", rootfs, "/bin/busybox", "--install", "-s", "/bin").CombinedOutput(); err != nil {
		t.Fatalf("busybox --install: %v: %s", err, out)
	}
	writeFile(t, filepath.Join(rootfs, "etc/passwd"), testPasswd)
	writeFile(t, filepath.Join(rootfs, "etc/group"), testGroup)
	return rootfs
}

// runtimeCmd is an invocation of the OCI runtime rt (runc or crun). On a
// hybrid cgroup host, where the unified hierarchy holds controllers, crun
// refuses to start at all ("cgroups in hybrid mode not supported"); there
// it runs in a mount namespace of its own without that hierarchy, where it
// sees plain cgroup v1, as on the v1 hosts it supports.
func runtimeCmd(ctx context.Context, rt string, args ...string) *exec.Cmd {
	if filepath.Base(rt) == "crun" {
		if data, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil && strings.TrimSpace(string(data)) != "" {
			return exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--", "sh", "-c",
				`umount -l /sys/fs/cgroup/unified && exec "$0" "$@"`, rt}, args...)...)
		}
	}
	return exec.CommandContext(ctx, rt, args...)
}

// TestGenerateSpecRuns runs generated specs with the real runc and crun
// (the runtime berth picks on cgroup v2 hosts) and checks, from inside the
// container, that the user, the capabilities and the hostname are the ones
// asked for. Both runtimes must accept the spec's OCIVersion: Debian 12's
// crun refuses anything past 1.1.
func TestGenerateSpecRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running containers needs root")
	}
	for _, name := range []string{"runc", "crun"} {
		t.Run(name, func(t *testing.T) {
			rt, err := exec.LookPath(name)
			if err != nil {
				t.Skipf("%s is not installed", name)
			}
			testGenerateSpecRuns(t, rt)
		})
	}
}

func testGenerateSpecRuns(t *testing.T, runc string) {
	hostCaps, err := HostCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	var hostNofile unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &hostNofile); err != nil {
		t.Fatal(err)
	}
	var hostMask uint64
	for bit, c := range linuxCapabilities {
		if slices.Contains(hostCaps, c) {
			hostMask |= 1 << uint(bit)
		}
	}
	tests := []struct {
		doc        string
		user       string
		capAdd     []string
		privileged bool
		readOnly   bool
		cmd        string
		want       []string
	}{
		// a80425fb is Docker's well-known CapEff for its 14 defaults.
		{doc: "root with Docker's default capabilities", want: []string{"0", "CapEff:\t00000000a80425fb", "berth-e2e"}},
		{doc: "a non-root user has no effective capabilities", user: "app", want: []string{"1000", "CapEff:\t0000000000000000", "berth-e2e"}},
		{doc: "--cap-add NET_ADMIN", capAdd: []string{"NET_ADMIN"}, want: []string{"0", "CapEff:\t00000000a80435fb", "berth-e2e"}},
		{doc: "--read-only with a --tmpfs, and the open-files limit clamped to the host's", readOnly: true,
			cmd:  "touch /x 2>/dev/null || echo root-ro; touch /tmp/y && echo tmp-rw; ulimit -n",
			want: []string{"root-ro", "tmp-rw", fmt.Sprint(min(uint64(defaultNofile), hostNofile.Max))}},
		{doc: "--privileged holds the host's whole bounding set", privileged: true, want: []string{"0", fmt.Sprintf("CapEff:\t%016x", hostMask), "berth-e2e"}},
		// With crun, the filter is berth's own compilation of the profile.
		{doc: "the default seccomp profile denies unshare and allows personality(PER_LINUX32)",
			cmd:  "unshare -U true 2>/dev/null || echo unshare-denied; linux32 uname -m; grep ^Seccomp: /proc/self/status",
			want: []string{"unshare-denied", "i686", "Seccomp:\t2"}},
	}
	precompile := filepath.Base(runc) == "crun"
	for i, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			dir := t.TempDir()
			rootfs := busyboxRootfs(t, dir)
			stateRoot := filepath.Join(dir, "state")
			id := fmt.Sprintf("berth-spec-test-%d-%d", os.Getpid(), i)
			cgroupsPath := "/" + id

			script := tc.cmd
			if script == "" {
				script = "id -u; grep CapEff /proc/self/status; hostname"
			}
			hc := &container.HostConfig{CapAdd: tc.capAdd, Privileged: tc.privileged, ReadonlyRootfs: tc.readOnly}
			if tc.readOnly {
				hc.Tmpfs = map[string]string{"/tmp": ""}
			}
			s, err := GenerateSpec(SpecOptions{
				ID:     id,
				Rootfs: rootfs,
				Config: &container.Config{
					Hostname: "berth-e2e",
					User:     tc.user,
					Cmd:      []string{"sh", "-c", script},
				},
				HostConfig:        hc,
				CgroupsPath:       cgroupsPath,
				HostCapabilities:  hostCaps,
				PrecompileSeccomp: precompile,
			})
			if err != nil {
				t.Fatal(err)
			}
			if compiled := s.Annotations[SeccompBPFAnnotation] != ""; compiled != (precompile && !tc.privileged) {
				t.Fatalf("compiled seccomp filter in the spec: %v", compiled)
			}
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "config.json"), string(b))

			t.Cleanup(func() {
				// Whatever happened, leave no container or cgroup behind.
				_ = runtimeCmd(context.Background(), runc, "--root", stateRoot, "delete", "--force", id).Run()
				ctrls, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupsPath)
				for _, c := range ctrls {
					_ = os.Remove(c)
				}
			})

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			cmd := runtimeCmd(ctx, runc, "--root", stateRoot, "run", "--bundle", dir, id)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s run: %v\nstdout: %s\nstderr: %s", filepath.Base(runc), err, stdout.String(), stderr.String())
			}
			got := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("container printed %q, want %q (stderr %s)", got, tc.want, stderr.String())
			}
		})
	}
}
