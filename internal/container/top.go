package container

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// cgroupRoot is where the host mounts its cgroup file systems.
const cgroupRoot = "/sys/fs/cgroup"

// Top lists a running container's processes as `docker top` does: the
// host's ps with psArgs (default "-ef"), keeping the header and the lines
// of the container's processes (those in its cgroup).
func (s *Service) Top(ctx context.Context, ref, psArgs string) (*container.TopResponse, error) {
	if psArgs == "" {
		psArgs = "-ef"
	}
	if err := validatePSArgs(psArgs); err != nil {
		return nil, err
	}
	c, err := s.store.get(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	running := c.State.Running() && c.shim != nil
	restarting := c.State.Status == container.StateRestarting
	c.mu.Unlock()
	if !running {
		return nil, errdefs.Conflict(fmt.Errorf("container %s is not running", c.ID))
	}
	if restarting {
		return nil, errdefs.Conflict(fmt.Errorf("Container %s is restarting, wait until the container is running", c.ID))
	}
	pids, err := cgroupPids(cgroupRoot, isCgroup2(cgroupRoot), "/"+s.cfg.CgroupParent+"/"+c.ID)
	if err != nil {
		return nil, fmt.Errorf("list processes of container %s: %w", c.ID, err)
	}
	out, err := runPS(ctx, strings.Split(psArgs, " "), pids)
	if err != nil {
		return nil, err
	}
	top, err := parsePSOutput(out, pids)
	if err != nil {
		return nil, err
	}
	s.publish(c, "top", nil)
	return top, nil
}

// validatePSArgs refuses renaming the PID column ("name=PID"), as dockerd
// does: ps would print the PID under another title, and the container's
// lines could not be found.
func validatePSArgs(psArgs string) error {
	psArgsPID := regexp.MustCompile(`\s+([^\s]*)=\s*(PID[^\s]*)`)
	for _, g := range psArgsPID.FindAllStringSubmatch(psArgs, -1) {
		if len(g) >= 3 && g[1] != "pid" {
			return fmt.Errorf(`specifying "%s=%s" is not allowed`, g[1], g[2])
		}
	}
	return nil
}

// runPS runs ps with args, first limited to pids with -q; some options
// (such as f) do not go with -q, so it retries without. A failure is
// reported with the first line ps wrote to stderr.
func runPS(ctx context.Context, args []string, pids []int) ([]byte, error) {
	q := make([]string, len(pids))
	for i, p := range pids {
		q[i] = strconv.Itoa(p)
	}
	out, err := exec.CommandContext(ctx, "ps", append(append([]string{}, args...), "-q"+strings.Join(q, ","))...).Output()
	if err == nil {
		return out, nil
	}
	out, err = exec.CommandContext(ctx, "ps", args...).Output()
	if err == nil {
		return out, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if line, _, _ := bytes.Cut(ee.Stderr, []byte("\n")); len(line) > 0 {
			err = errors.New(string(line))
		}
	}
	return nil, fmt.Errorf("ps: %w", err)
}

// parsePSOutput keeps the header and the lines whose PID is one of pids;
// thread lines ("-" for PID, with ps's m option) follow their process.
// Fields past the last title (the command's arguments) are joined into it.
func parsePSOutput(out []byte, pids []int) (*container.TopResponse, error) {
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	lines := strings.Split(string(out), "\n")
	top := &container.TopResponse{Titles: fieldsASCII(lines[0]), Processes: [][]string{}}
	pidIndex := -1
	for i, t := range top.Titles {
		if t == "PID" {
			pidIndex = i
			break
		}
	}
	if pidIndex == -1 {
		return nil, errors.New("Couldn't find PID field in ps output")
	}
	inContainer := false
	for _, line := range lines[1:] {
		if line == "" {
			continue
		}
		fields := fieldsASCII(line)
		if len(fields) <= pidIndex {
			continue
		}
		if fields[pidIndex] == "-" {
			if inContainer {
				top.Processes = append(top.Processes, fitTitles(fields, len(top.Titles)))
			}
			continue
		}
		p, err := strconv.Atoi(fields[pidIndex])
		if err != nil {
			return nil, fmt.Errorf("Unexpected pid '%s': %s", fields[pidIndex], err)
		}
		inContainer = want[p]
		if inContainer {
			top.Processes = append(top.Processes, fitTitles(fields, len(top.Titles)))
		}
	}
	return top, nil
}

// fitTitles joins the overhanging fields into the last column.
func fitTitles(fields []string, titles int) []string {
	if titles == 0 || len(fields) < titles {
		return fields
	}
	out := append([]string{}, fields[:titles-1]...)
	return append(out, strings.Join(fields[titles-1:], " "))
}

// fieldsASCII splits on ASCII blanks only: a command may contain other
// Unicode spaces.
func fieldsASCII(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		switch r {
		case '\t', '\n', '\f', '\r', ' ':
			return true
		}
		return false
	})
}

// isCgroup2 reports whether root is the unified (v2) hierarchy.
func isCgroup2(root string) bool {
	var st unix.Statfs_t
	return unix.Statfs(root, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// cgroupPids lists the processes in cgroup path (and the cgroups below
// it). On v2 that is root/path; on v1 the first controller hierarchy that
// has the cgroup: the runtime puts the container in all of them.
func cgroupPids(root string, v2 bool, path string) ([]int, error) {
	dirs := []string{filepath.Join(root, path)}
	if !v2 {
		dirs = nil
		for _, ctrl := range []string{"pids", "freezer", "memory", "cpu,cpuacct", "cpu", "systemd", "unified"} {
			dirs = append(dirs, filepath.Join(root, ctrl, path))
		}
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		return readProcs(dir)
	}
	return nil, errdefs.NotFound(fmt.Errorf("no cgroup %s under %s", path, root))
}

func readProcs(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a cgroup removed while we read
			}
			return err
		}
		if d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if n, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
				pids = append(pids, n)
			}
		}
		return sc.Err()
	})
	sort.Ints(pids)
	return pids, err
}
