package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// userDevices turns --device entries into device nodes and cgroup rules as
// dockerd does: a host device node appears at PathInContainer (default: the
// same path) with the given permissions (default "rwm"); a host directory
// brings every device node below it.
func userDevices(maps []container.DeviceMapping) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	var nodes []specs.LinuxDevice
	var rules []specs.LinuxDeviceCgroup
	for _, m := range maps {
		perms := m.CgroupPermissions
		if perms == "" {
			perms = "rwm"
		}
		if strings.Trim(perms, "rwm") != "" {
			return nil, nil, errdefs.Invalid(fmt.Errorf("invalid device mode: %s", perms))
		}
		inContainer := m.PathInContainer
		if inContainer == "" {
			inContainer = m.PathOnHost
		}
		fi, err := os.Stat(m.PathOnHost)
		if err != nil {
			return nil, nil, errdefs.Invalid(fmt.Errorf("error gathering device information while adding custom device %q: %w", m.PathOnHost, errors.Unwrap(err)))
		}
		add := func(hostPath, ctrPath string) error {
			d, err := deviceNode(hostPath, ctrPath)
			if err != nil {
				return err
			}
			nodes = append(nodes, d)
			maj, min := d.Major, d.Minor
			rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &maj, Minor: &min, Access: perms})
			return nil
		}
		if !fi.IsDir() {
			if err := add(m.PathOnHost, inContainer); err != nil {
				return nil, nil, err
			}
			continue
		}
		err = filepath.WalkDir(m.PathOnHost, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeDevice == 0 {
				return nil
			}
			rel, _ := filepath.Rel(m.PathOnHost, p)
			return add(p, filepath.Join(inContainer, rel))
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return nodes, rules, nil
}

// deviceNode describes the host device node at hostPath for ctrPath.
func deviceNode(hostPath, ctrPath string) (specs.LinuxDevice, error) {
	fi, err := os.Stat(hostPath)
	if err != nil {
		return specs.LinuxDevice{}, errdefs.Invalid(fmt.Errorf("error gathering device information while adding custom device %q: %w", hostPath, err))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || fi.Mode()&fs.ModeDevice == 0 {
		return specs.LinuxDevice{}, errdefs.Invalid(fmt.Errorf("error gathering device information while adding custom device %q: not a device node", hostPath))
	}
	typ := "b"
	if fi.Mode()&fs.ModeCharDevice != 0 {
		typ = "c"
	}
	mode := fi.Mode().Perm()
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{
		Path: ctrPath, Type: typ,
		Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)),
		FileMode: &mode, UID: &uid, GID: &gid,
	}, nil
}

// deviceCgroupRules parses --device-cgroup-rule values: "c 1:3 mr",
// "b *:* rwm", "a".
func deviceCgroupRules(rules []string) ([]specs.LinuxDeviceCgroup, error) {
	var out []specs.LinuxDeviceCgroup
	for _, r := range rules {
		f := strings.Fields(r)
		bad := errdefs.Invalid(fmt.Errorf("invalid device cgroup format '%s'", r))
		if len(f) == 1 && f[0] == "a" {
			out = append(out, specs.LinuxDeviceCgroup{Allow: true, Type: "a", Access: "rwm"})
			continue
		}
		if len(f) != 3 || (f[0] != "c" && f[0] != "b" && f[0] != "a") || strings.Trim(f[2], "rwm") != "" || f[2] == "" {
			return nil, bad
		}
		majS, minS, ok := strings.Cut(f[1], ":")
		if !ok {
			return nil, bad
		}
		num := func(s string) (*int64, error) {
			if s == "*" {
				return nil, nil
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, bad
			}
			return &n, nil
		}
		maj, err := num(majS)
		if err != nil {
			return nil, err
		}
		min, err := num(minS)
		if err != nil {
			return nil, err
		}
		out = append(out, specs.LinuxDeviceCgroup{Allow: true, Type: f[0], Major: maj, Minor: min, Access: f[2]})
	}
	return out, nil
}
