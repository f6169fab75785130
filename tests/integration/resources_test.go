package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cgroupDir is the directory of a process's cgroup in the hierarchy
// holding controller: /sys/fs/cgroup/<controller>/<path> on cgroup v1,
// /sys/fs/cgroup/<path> on v2 (unified is then true).
func cgroupDir(t *testing.T, pid int, controller string) (dir string, unified bool) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatalf("cgroup of pid %d: %v", pid, err)
	}
	var v2 string
	for _, l := range lines(string(data)) {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			v2 = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				return filepath.Join("/sys/fs/cgroup", controller, parts[2]), false
			}
		}
	}
	if v2 == "" {
		t.Fatalf("pid %d is in no %s cgroup:\n%s", pid, controller, data)
	}
	return filepath.Join("/sys/fs/cgroup", v2), true
}

// readCgroup returns a cgroup file's content without surrounding space.
func readCgroup(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// containerPid is the host pid of a running container's process.
func containerPid(c *client, name string) int {
	c.t.Helper()
	pid, err := strconv.Atoi(c.inspect("{{.State.Pid}}", name))
	if err != nil || pid <= 0 {
		c.t.Fatalf("container %s has no pid (%v)", name, err)
	}
	return pid
}

// needCPUs skips when the machine has fewer CPUs than the seed's example
// asks for.
func needCPUs(t *testing.T, n int) {
	t.Helper()
	if runtime.NumCPU() < n {
		t.Skipf("this machine has %d CPUs; the example needs %d", runtime.NumCPU(), n)
	}
}

func TestResourceLimitsSeedExample(t *testing.T) {
	needCPUs(t, 2)
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("limits")
		r := c.run("run", "-d", "--name", name, "--memory=1g", "--memory-reservation=750m", "--memory-swap=1.5g",
			"--cpus=1.5", "--cpuset-cpus=0,1", "--cpu-shares=512", "busybox", "sleep", "1d")
		if r.code != 0 {
			t.Fatalf("run: %s", r)
		}
		pid := containerPid(c, name)
		mem, unified := cgroupDir(t, pid, "memory")
		// Without swap accounting dockerd warns and ignores the swap limit.
		swapAccounting := true
		if !unified {
			_, err := os.Stat(filepath.Join(mem, "memory.memsw.limit_in_bytes"))
			swapAccounting = err == nil
		}
		wantSwap := "1610612736"
		if !swapAccounting {
			wantSwap = "-1"
			if !strings.Contains(r.stdout+r.stderr, "Memory limited without swap") {
				t.Errorf("no swap accounting, but no warning: %s", r)
			}
		}
		got := c.inspect("{{.HostConfig.Memory}} {{.HostConfig.MemoryReservation}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpusetCpus}} {{.HostConfig.CpuShares}}", name)
		if want := "1073741824 786432000 " + wantSwap + " 1500000000 0,1 512"; got != want {
			t.Errorf("inspect HostConfig: %q, want %q", got, want)
		}

		cpu, _ := cgroupDir(t, pid, "cpu")
		cpuset, _ := cgroupDir(t, pid, "cpuset")
		var files map[string]string
		if unified {
			files = map[string]string{
				filepath.Join(mem, "memory.max"):     "1073741824",
				filepath.Join(mem, "memory.low"):     "786432000",
				filepath.Join(cpu, "cpu.max"):        "150000 100000",
				filepath.Join(cpu, "cpu.weight"):     "20", // runc's conversion of 512 shares
				filepath.Join(cpuset, "cpuset.cpus"): "0-1",
			}
			if swapAccounting {
				files[filepath.Join(mem, "memory.swap.max")] = "536870912"
			}
		} else {
			files = map[string]string{
				filepath.Join(mem, "memory.limit_in_bytes"):      "1073741824",
				filepath.Join(mem, "memory.soft_limit_in_bytes"): "786432000",
				filepath.Join(cpu, "cpu.cfs_quota_us"):           "150000",
				filepath.Join(cpu, "cpu.cfs_period_us"):          "100000",
				filepath.Join(cpu, "cpu.shares"):                 "512",
				filepath.Join(cpuset, "cpuset.cpus"):             "0-1",
			}
			if swapAccounting {
				files[filepath.Join(mem, "memory.memsw.limit_in_bytes")] = "1610612736"
			}
		}
		for path, want := range files {
			if got := readCgroup(t, filepath.Dir(path), filepath.Base(path)); got != want {
				t.Errorf("%s = %q, want %q", path, got, want)
			}
		}
	})
}

func TestOOMKillIsRecorded(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("oom")
		since := time.Now().Add(-time.Second)
		// tail buffers /dev/zero looking for a newline: it grows until the
		// kernel kills it.
		r := c.expectExit(137, "run", "--name", name, "--memory=32m", "busybox", "tail", "/dev/zero")
		if got := c.inspect("{{.State.ExitCode}} {{.State.OOMKilled}}", name); got != "137 true" {
			t.Errorf("State.ExitCode, State.OOMKilled: %q, want \"137 true\" (run: %s)", got, r)
		}
		// The die event may be logged a moment after run returns.
		var actions []string
		found := pollUntil(time.Now().Add(10*time.Second), func() bool {
			out := c.ok("events", "--since", unixNano(since), "--until", unixNano(time.Now()),
				"--filter", "container="+name, "--filter", "event=oom", "--filter", "event=die", "--format", "{{.Action}}")
			actions = lines(out)
			return len(actions) > 0 && actions[len(actions)-1] == "die"
		})
		if !found || strings.Join(actions, " ") != "oom die" {
			t.Errorf("events: %v, want oom then die", actions)
		}
	})
}

func TestPidsLimitStopsForkBomb(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("pids")
		// A subshell forks sleeps until it cannot; the container's first
		// process then stays, with what the subshell managed to start.
		c.ok("run", "-d", "--name", name, "--pids-limit", "20", "busybox", "sh", "-c",
			`(for i in $(seq 50); do sleep 100 & done; wait); echo spawner gone; exec sleep 1d`)
		var logs string
		waitFor(t, 10*time.Second, "the spawner to give up", func() bool {
			logs = c.run("logs", name).stdout
			return strings.Contains(logs, "spawner gone")
		})
		if errs := c.run("logs", name).stderr; !strings.Contains(errs, "can't fork") {
			t.Errorf("the shell did not fail to fork; stderr: %q", errs)
		}
		if got := c.inspect("{{.HostConfig.PidsLimit}}", name); got != "20" {
			t.Errorf("inspect PidsLimit %q, want 20", got)
		}
		dir, _ := cgroupDir(t, containerPid(c, name), "pids")
		if got := readCgroup(t, dir, "pids.max"); got != "20" {
			t.Errorf("pids.max = %q, want 20", got)
		}
		n, err := strconv.Atoi(readCgroup(t, dir, "pids.current"))
		if err != nil || n > 20 || n < 2 {
			t.Errorf("pids.current = %d (%v), want the sleeps that fit, at most 20", n, err)
		}
	})
}

func TestUpdateRunningContainer(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("update")
		c.ok("run", "-d", "--name", name, "--memory", "32m", "busybox", "sleep", "1d")
		pid := containerPid(c, name)
		mem, unified := cgroupDir(t, pid, "memory")
		if got := c.okTrim("update", "--memory", "64m", "--memory-swap", "128m", name); got != name {
			t.Errorf("update printed %q, want the container's name", got)
		}
		if got := c.inspect("{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", name); got != "67108864 134217728" {
			t.Errorf("inspect after update: %q, want \"67108864 134217728\"", got)
		}
		limit, swap := "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"
		wantSwap := "134217728"
		if unified {
			limit, swap, wantSwap = "memory.max", "memory.swap.max", "67108864"
		}
		if got := readCgroup(t, mem, limit); got != "67108864" {
			t.Errorf("%s = %q after update, want 67108864", limit, got)
		}
		if _, err := os.Stat(filepath.Join(mem, swap)); err == nil {
			if got := readCgroup(t, mem, swap); got != wantSwap {
				t.Errorf("%s = %q after update, want %s", swap, got, wantSwap)
			}
		}

		c.ok("update", "--cpus", "0.5", "--pids-limit", "30", "--restart", "on-failure:3", name)
		cpu, _ := cgroupDir(t, pid, "cpu")
		pids, _ := cgroupDir(t, pid, "pids")
		quota, wantQuota := "cpu.cfs_quota_us", "50000"
		if unified {
			quota, wantQuota = "cpu.max", "50000 100000"
		}
		if got := readCgroup(t, cpu, quota); got != wantQuota {
			t.Errorf("%s = %q after update --cpus 0.5, want %q", quota, got, wantQuota)
		}
		if got := readCgroup(t, pids, "pids.max"); got != "30" {
			t.Errorf("pids.max = %q after update, want 30", got)
		}
		if got := c.inspect("{{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", name); got != "500000000 30 on-failure:3" {
			t.Errorf("inspect after update: %q", got)
		}

		// Refused updates change nothing.
		r := c.expectExit(1, "update", "--memory", "256m", name)
		if !strings.Contains(r.stderr, "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time") {
			t.Errorf("update --memory above the swap limit: %s", r)
		}
		r = c.expectExit(1, "update", "--cpu-period", "50000", name)
		if !strings.Contains(r.stderr, "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set") {
			t.Errorf("update --cpu-period after --cpus: %s", r)
		}
		if got := c.inspect("{{.HostConfig.Memory}} {{.HostConfig.CpuPeriod}}", name); got != "67108864 0" {
			t.Errorf("inspect after refused updates: %q", got)
		}
		if got := readCgroup(t, mem, limit); got != "67108864" {
			t.Errorf("%s = %q after refused updates", limit, got)
		}
		r = c.expectExit(1, "update", name)
		if !strings.Contains(r.stderr, "you must provide one or more flags when using this command") {
			t.Errorf("update without flags: %s", r)
		}
	})
}

func TestUpdateStoppedContainerAppliesAtStart(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("update-stopped")
		c.ok("create", "--name", name, "busybox", "sleep", "1d")
		c.ok("update", "--cpu-shares", "700", "--memory", "48m", "--memory-swap", "96m", name)
		c.ok("start", name)
		pid := containerPid(c, name)
		mem, unified := cgroupDir(t, pid, "memory")
		if unified {
			if got := readCgroup(t, mem, "memory.max"); got != "50331648" {
				t.Errorf("memory.max = %q, want 50331648", got)
			}
			return
		}
		cpu, _ := cgroupDir(t, pid, "cpu")
		if got := readCgroup(t, mem, "memory.limit_in_bytes"); got != "50331648" {
			t.Errorf("memory.limit_in_bytes = %q, want 50331648", got)
		}
		if got := readCgroup(t, cpu, "cpu.shares"); got != "700" {
			t.Errorf("cpu.shares = %q, want 700", got)
		}
	})
}

func TestBadResourcesCreateNothing(t *testing.T) {
	needCPUs(t, 1)
	d := sharedDaemon(t)
	n := runtime.NumCPU()
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{fmt.Sprintf("--cpus=%d", n+1)}, fmt.Sprintf("Range of CPUs is from 0.01 to %[1]d.00, as there are only %[1]d CPUs available", n)},
		{[]string{"--cpus=-1"}, fmt.Sprintf("Range of CPUs is from 0.01 to %[1]d.00, as there are only %[1]d CPUs available", n)},
		{[]string{fmt.Sprintf("--cpuset-cpus=0,%d", n+5)}, fmt.Sprintf("Requested CPUs are not available - requested 0,%d, available: ", n+5)},
		{[]string{"--cpuset-cpus=0-a"}, "Invalid value 0-a for cpuset cpus: invalid format: 0-a"},
		{[]string{"--cpuset-mems=64"}, "Requested memory nodes are not available - requested 64, available: "},
		{[]string{"--memory=4m"}, "Minimum memory limit allowed is 6MB"},
		{[]string{"--memory=-1"}, `invalid argument "-1" for "-m, --memory" flag: invalid size: '-1'`},
		{[]string{"--memory=lots"}, `invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'`},
		{[]string{"--shm-size=-64m"}, `invalid argument "-64m" for "--shm-size" flag: invalid size: '-64m'`},
		{[]string{"--memory=64m", "--memory-swap=32m"}, "Minimum memoryswap limit should be larger than memory limit, see usage"},
		{[]string{"--memory=64m", "--memory-reservation=128m"}, "Minimum memory limit can not be less than memory reservation limit, see usage"},
		{[]string{"--cpus=1", "--cpu-period=50000"}, "Conflicting options: Nano CPUs and CPU Period cannot both be set"},
		{[]string{"--cpu-quota=500"}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"},
		{[]string{"--cap-add=NOPE"}, `unknown capability: "CAP_NOPE"`},
	}
	eachClient(t, d, func(t *testing.T, c *client) {
		before := containerSet(c)
		for _, tc := range cases {
			args := append(append([]string{"run", "--rm"}, tc.args...), "busybox", "true")
			r := c.run(args...)
			if r.code != 125 || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("%s %s: want exit 125 and %q, got %s", c.name, strings.Join(args, " "), tc.msg, r)
			}
		}
		if after := containerSet(c); after != before {
			t.Errorf("bad input left containers behind:\nbefore: %s\nafter:  %s", before, after)
		}
	})
}
