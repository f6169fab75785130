package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
)

// Stats scripts: a busy loop, and a shell holding 20 MB in a variable
// (`sleep & wait` keeps sh alive; busybox sh would exec a last sleep).
const (
	busyScript  = `while :; do :; done`
	memScript   = `x=$(head -c 20000000 /dev/zero | tr "\0" a); echo ready; while :; do sleep 100 & wait $!; done`
	statsFormat = `{{.Name}}|{{.ID}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}`
)

// statsLine is one --format statsFormat row.
type statsLine struct {
	name, id, cpu, mem, memPerc, net, block, pids string
}

func parseStats(t *testing.T, out string) map[string]statsLine {
	t.Helper()
	rows := map[string]statsLine{}
	for _, l := range lines(out) {
		f := strings.Split(l, "|")
		if len(f) != 8 {
			t.Fatalf("stats row %q: want 8 fields", l)
		}
		if _, dup := rows[f[0]]; dup {
			t.Fatalf("stats shows %s twice:\n%s", f[0], out)
		}
		rows[f[0]] = statsLine{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]}
	}
	return rows
}

// percentOf parses "51.20%".
func percentOf(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || !strings.HasSuffix(s, "%") {
		t.Fatalf("not a percentage: %q", s)
	}
	return v
}

// binaryBytes parses docker's "19.63MiB" (go-units BytesSize).
func binaryBytes(t *testing.T, s string) float64 {
	t.Helper()
	m := regexp.MustCompile(`^([0-9.]+)([KMGT]i)?B$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("not a binary size: %q", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v * math.Pow(1024, float64(strings.Index("KMGT", strings.TrimSuffix(m[2], "i"))+1))
}

// cgroupMemory is what docker's MEM USAGE shows, read from the cgroup's
// own files: usage minus inactive file pages.
func cgroupMemory(t *testing.T, id string) float64 {
	t.Helper()
	usageFile, statFile, key := "/sys/fs/cgroup/memory/berth/"+id+"/memory.usage_in_bytes", "/sys/fs/cgroup/memory/berth/"+id+"/memory.stat", "total_inactive_file"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil { // v2
		usageFile, statFile, key = "/sys/fs/cgroup/berth/"+id+"/memory.current", "/sys/fs/cgroup/berth/"+id+"/memory.stat", "inactive_file"
	}
	b, err := os.ReadFile(usageFile)
	if err != nil {
		t.Fatal(err)
	}
	usage, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile(statFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines(string(stat)) {
		if k, v, _ := strings.Cut(l, " "); k == key {
			n, _ := strconv.ParseFloat(v, 64)
			if n < usage {
				usage -= n
			}
		}
	}
	return usage
}

func TestStatsFigures(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		busy, mem, stopped := c.uniqueName("busy"), c.uniqueName("mem"), c.uniqueName("stopped")
		c.ok("run", "-d", "--name", busy, "--cpus=0.5", "busybox", "sh", "-c", busyScript)
		memID := c.okTrim("run", "-d", "--name", mem, "busybox", "sh", "-c", memScript)
		c.ok("create", "--name", stopped, "busybox", "true")
		waitFor(t, 30*time.Second, mem+" to fill its memory", func() bool {
			return strings.Contains(c.run("logs", mem).stdout, "ready")
		})

		// --cpus=0.5 holds a busy loop near half a core, sample after sample.
		var sum float64
		const samples = 3
		for range samples {
			rows := parseStats(t, c.ok("stats", "--no-stream", "--format", statsFormat, busy))
			sum += percentOf(t, rows[busy].cpu)
		}
		// The cap must hold whatever else runs; the loop reaching half a
		// core is only owed on a host with a core to spare.
		low := 30.0
		if hostBusy() {
			low = 5
		}
		if avg := sum / samples; avg < low || avg > 70 {
			t.Errorf("--cpus=0.5 busy loop: CPU %% averages %.1f over %d samples, want about 50 (at least %.0f)", avg, samples, low)
		}

		// MEM USAGE agrees with the cgroup's files within 5%.
		rows := parseStats(t, c.ok("stats", "--no-stream", "--format", statsFormat, mem))
		usage, limit, ok := strings.Cut(rows[mem].mem, " / ")
		if !ok {
			t.Fatalf("MEM USAGE %q", rows[mem].mem)
		}
		got, want := binaryBytes(t, usage), cgroupMemory(t, memID)
		if want < 20e6 {
			t.Fatalf("the cgroup holds %.0f bytes; the container should hold 20 MB", want)
		}
		if math.Abs(got-want) > 0.05*want {
			t.Errorf("MEM USAGE %s = %.0f bytes, the cgroup says %.0f", usage, got, want)
		}
		if binaryBytes(t, limit) < want || percentOf(t, rows[mem].memPerc) <= 0 {
			t.Errorf("limit %s, MEM %% %s", limit, rows[mem].memPerc)
		}
		if rows[mem].pids != "2" || rows[mem].block == "" || rows[mem].net == "" {
			t.Errorf("row %+v: want 2 PIDs (sh and sleep) and I/O columns", rows[mem])
		}

		// Several containers: one row each, IDs truncated unless --no-trunc;
		// a stopped container only with -a, zeroed.
		all := parseStats(t, c.ok("stats", "--no-stream", "--format", statsFormat))
		if _, ok := all[busy]; !ok {
			t.Errorf("stats without names lacks %s", busy)
		}
		if _, ok := all[stopped]; ok {
			t.Errorf("stats without -a shows the stopped %s", stopped)
		}
		named := parseStats(t, c.ok("stats", "--no-stream", "--no-trunc", "-a", "--format", statsFormat, busy, mem, stopped))
		if len(named) != 3 || !fullID.MatchString(named[mem].id) || named[mem].id != memID {
			t.Errorf("stats --no-trunc of three containers: %+v", named)
		}
		if s := named[stopped]; s.cpu != "0.00%" || s.mem != "0B / 0B" || s.pids != "0" {
			t.Errorf("stopped container: %+v, want zeroes", s)
		}
		table := lines(c.ok("stats", "--no-stream", busy, mem))
		if len(table) != 3 || !regexp.MustCompile(`^CONTAINER ID +NAME +CPU % +MEM USAGE / LIMIT +MEM % +NET I/O +BLOCK I/O +PIDS$`).MatchString(table[0]) {
			t.Errorf("default table:\n%s", strings.Join(table, "\n"))
		}
		var js map[string]string
		if err := json.Unmarshal([]byte(c.okTrim("stats", "--no-stream", "--format", "{{json .}}", mem)), &js); err != nil || js["Name"] != mem || js["Container"] != mem || js["PIDs"] != "2" {
			t.Errorf("--format '{{json .}}': %v %v", js, err)
		}
		if r := c.run("stats", "--no-stream", "it-no-such-container"); r.code == 0 || !strings.Contains(r.stderr, "No such container: it-no-such-container") {
			t.Errorf("stats of a missing container: %s", r)
		}

		// Streaming: the table is redrawn in place, again and again.
		bg := c.start("stats", "--format", "{{.Name}} {{.CPUPerc}}", busy)
		bg.waitOutput(t, 15*time.Second, "\033[H"+busy)
		first := strings.Count(bg.stdout.String(), "\033[H")
		waitFor(t, 15*time.Second, "a redraw", func() bool { return strings.Count(bg.stdout.String(), "\033[H") > first })
	})
}

// TestStatsAPI checks the endpoint's samples against dockerd's: a
// previous sample a second old, none with one-shot, a zeroed sample for a
// stopped container, cgroup v1 figures read for real, and a stream of one
// sample a second.
func TestStatsAPI(t *testing.T) {
	d := sharedDaemon(t)
	c := d.client(t, "berth")
	name, stopped := c.uniqueName("apistats"), c.uniqueName("apistopped")
	id := c.okTrim("run", "-d", "--name", name, "--network", "none", "busybox", "sh", "-c", memScript)
	c.ok("create", "--name", stopped, "busybox", "true")

	get := func(path string) ctypes.StatsResponse {
		t.Helper()
		code, _, body, err := d.api("GET", path, "", nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET %s: %d %s %v", path, code, body, err)
		}
		var s ctypes.StatsResponse
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, body)
		}
		return s
	}

	s := get("/containers/" + name + "/stats?stream=false")
	if s.ID != id || s.Name != "/"+name || s.OSType != "linux" {
		t.Errorf("identity: %q %q %q", s.ID, s.Name, s.OSType)
	}
	// dockerd takes the previous sample a second before; berth uses one it
	// kept (taken at start or by its keeper) once it is 200 ms old, two
	// CFS periods, and at most 30 s.
	if gap := s.Read.Sub(s.PreRead); gap < 200*time.Millisecond || gap > 30*time.Second {
		t.Errorf("read %v, preread %v: want a previous sample between 200 ms and 30 s earlier", s.Read, s.PreRead)
	}
	if s.PreCPUStats.SystemUsage == 0 || s.CPUStats.SystemUsage <= s.PreCPUStats.SystemUsage || s.CPUStats.CPUUsage.TotalUsage < s.PreCPUStats.CPUUsage.TotalUsage {
		t.Errorf("cpu %+v after %+v", s.CPUStats, s.PreCPUStats)
	}
	if s.CPUStats.OnlineCPUs == 0 || s.MemoryStats.Usage == 0 || s.MemoryStats.Limit == 0 || s.PidsStats.Current == 0 {
		t.Errorf("sample lacks figures: %+v", s)
	}
	if len(s.Networks) != 0 {
		t.Errorf("--network none: networks %v, want none (lo is not reported)", s.Networks)
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil { // cgroup v1 here
		if len(s.CPUStats.CPUUsage.PercpuUsage) == 0 || s.MemoryStats.MaxUsage < s.MemoryStats.Usage {
			t.Errorf("v1: per-CPU %v, max usage %d < usage %d", s.CPUStats.CPUUsage.PercpuUsage, s.MemoryStats.MaxUsage, s.MemoryStats.Usage)
		}
		if _, ok := s.MemoryStats.Stats["total_inactive_file"]; !ok || s.BlkioStats.IoServicedRecursive == nil {
			t.Errorf("v1: memory stats %v, blkio %+v", s.MemoryStats.Stats, s.BlkioStats)
		}
		// The script forks (its pipeline, then sleep): compare a sample
		// with the file only while the count holds still around it.
		pidsFile := filepath.Join("/sys/fs/cgroup/pids/berth", id, "pids.current")
		readPids := func() string {
			b, err := os.ReadFile(pidsFile)
			if err != nil {
				t.Fatalf("pids.current: %v", err)
			}
			return strings.TrimSpace(string(b))
		}
		var last string
		if !pollUntil(time.Now().Add(10*time.Second), func() bool {
			before := readPids()
			got := get("/containers/" + name + "/stats?stream=false&one-shot=true").PidsStats.Current
			if after := readPids(); before != after {
				return false
			}
			last = fmt.Sprintf("pids %d, pids.current %s", got, before)
			return fmt.Sprint(got) == before
		}) {
			t.Errorf("stats' pids never matched pids.current while it held still: %s", last)
		}
	}

	one := get("/containers/" + name + "/stats?stream=false&one-shot=true")
	if one.Read.IsZero() || !one.PreRead.IsZero() || one.PreCPUStats.SystemUsage != 0 {
		t.Errorf("one-shot: read %v, preread %v, precpu %+v: want no previous sample", one.Read, one.PreRead, one.PreCPUStats)
	}

	zero := get("/containers/" + stopped + "/stats?stream=false")
	if zero.Name != "/"+stopped || !zero.Read.IsZero() || zero.MemoryStats.Usage != 0 || zero.CPUStats.SystemUsage != 0 {
		t.Errorf("stopped container: %+v, want a zeroed sample", zero)
	}
	if code, _, body, _ := d.api("GET", "/containers/it-no-such/stats?stream=false", "", nil); code != http.StatusNotFound || !strings.Contains(string(body), "No such container: it-no-such") {
		t.Errorf("missing container: %d %s", code, body)
	}

	// A stream: a sample at once, then one a second, each carrying the one
	// before; it ends when the container is removed.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://berth/containers/"+name+"/stats", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var frames [3]ctypes.StatsResponse
	for i := range frames {
		if err := dec.Decode(&frames[i]); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if !frames[0].PreRead.IsZero() || !frames[1].PreRead.Equal(frames[0].Read) || !frames[2].PreRead.Equal(frames[1].Read) ||
		frames[2].PreCPUStats.CPUUsage.TotalUsage != frames[1].CPUStats.CPUUsage.TotalUsage {
		t.Errorf("frames do not chain: %v/%v %v/%v %v/%v", frames[0].PreRead, frames[0].Read, frames[1].PreRead, frames[1].Read, frames[2].PreRead, frames[2].Read)
	}
	if gap := frames[2].Read.Sub(frames[1].Read); gap < 900*time.Millisecond || gap > 3*time.Second {
		t.Errorf("frames %v apart, want a second", gap)
	}
	c.ok("rm", "-f", name)
	for {
		var f ctypes.StatsResponse
		if err := dec.Decode(&f); err != nil {
			break // the stream ended with the container
		}
	}
	if ctx.Err() != nil {
		t.Error("the stream did not end when the container was removed")
	}
}

// TestStatsManyContainersCheap runs stats --no-stream over twenty
// containers with both CLIs: one row each, in about the one second the
// previous sample takes, for little of the daemon's CPU time.
func TestStatsManyContainersCheap(t *testing.T) {
	d := sharedDaemon(t)
	c := d.client(t, "berth")
	const n = 20
	names := make([]string, n)
	for i := range names {
		names[i] = c.uniqueName(fmt.Sprintf("many%d", i))
	}
	startAll(t, c, names, "while :; do sleep 100 & wait $!; done")
	eachClient(t, d, func(t *testing.T, c *client) {
		args := append([]string{"stats", "--no-stream", "--format", statsFormat}, names...)
		cpu0 := processCPU(t, d.pid())
		start := time.Now()
		rows := parseStats(t, c.ok(args...))
		took, cpu := time.Since(start), processCPU(t, d.pid())-cpu0
		t.Logf("%s stats --no-stream over %d containers: %v, berthd CPU %v", c.name, n, took, cpu)
		for _, name := range names {
			if r, ok := rows[name]; !ok || r.pids != "2" || r.cpu == "--" {
				t.Errorf("row of %s: %+v", name, r)
			}
		}
		if len(rows) != n {
			t.Errorf("%d rows, want %d", len(rows), n)
		}
		if took > 5*time.Second {
			t.Errorf("stats --no-stream over %d containers took %v", n, took)
		}
		if cpu > 2*time.Second {
			t.Errorf("berthd used %v of CPU for one stats --no-stream over %d containers", cpu, n)
		}
	})
}

// processCPU is a process's user and system time so far.
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command's closing parenthesis; utime and stime are
	// the 14th and 15th of the whole line, in clock ticks (USER_HZ = 100).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// hostBusy reports whether the host's run queue, averaged over the last
// minute, is longer than its CPU count: then no container can count on
// getting the share its limit allows.
func hostBusy() bool {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return false
	}
	load, err := strconv.ParseFloat(f[0], 64)
	return err == nil && load > float64(runtime.NumCPU())
}
