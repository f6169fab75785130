package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"berth/internal/errdefs"
)

// linuxCapabilities lists every capability the kernel defines, indexed by
// its number (include/uapi/linux/capability.h), so a bit in CapBnd maps to
// a name.
var linuxCapabilities = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// defaultCapabilities returns the 14 capabilities Docker grants a container
// (daemon/pkg/oci/caps.DefaultCapabilities), in Docker's order.
func defaultCapabilities() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
		"CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
		"CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
}

// HostCapabilities returns the capabilities in this process's bounding set
// (CapBnd in /proc/self/status): the most a container started from here can
// hold. A host without CAP_SYS_RESOURCE, like a container running berthd,
// shows it here, and --privileged must not ask the runtime for it.
func HostCapabilities() ([]string, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, fmt.Errorf("read capability bounding set: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		v, ok := strings.CutPrefix(s.Text(), "CapBnd:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("parse CapBnd %q: %w", v, err)
		}
		var caps []string
		for bit, name := range linuxCapabilities {
			if mask&(1<<uint(bit)) != 0 {
				caps = append(caps, name)
			}
		}
		return caps, nil
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read capability bounding set: %w", err)
	}
	return nil, errors.New("read capability bounding set: no CapBnd line in /proc/self/status")
}

// CheckCapabilities refuses a --cap-add or --cap-drop list naming a
// capability Linux does not have, as dockerd does when a container is
// created; what is the host's to grant is seen at start.
func CheckCapabilities(add, drop []string) error {
	if _, err := normalizeCapabilities(add, nil); err != nil {
		return errdefs.Invalid(fmt.Errorf("invalid CapAdd: %w", err))
	}
	if _, err := normalizeCapabilities(drop, nil); err != nil {
		return errdefs.Invalid(fmt.Errorf("invalid CapDrop: %w", err))
	}
	return nil
}

// normalizeCapabilities upper-cases names and adds the CAP_ prefix, keeping
// the "ALL" magic value, as Docker's NormalizeLegacyCapabilities does. An
// unknown name, or (when host is not nil) one the host cannot grant, is an
// invalid-parameter error with Docker's message.
func normalizeCapabilities(in, host []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, c := range in {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == "ALL" {
			out = append(out, c)
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if !slices.Contains(linuxCapabilities[:], c) {
			return nil, errdefs.Invalid(fmt.Errorf("unknown capability: %q", c))
		}
		if host != nil && !slices.Contains(host, c) {
			return nil, errdefs.Invalid(fmt.Errorf("capability not supported by your kernel or not available in the current environment: %q", c))
		}
		out = append(out, c)
	}
	return out, nil
}

// containerCapabilities applies --cap-add, --cap-drop and --privileged to
// Docker's defaults (caps.TweakCapabilities). host is the set the runtime
// can grant: privileged and "ALL" mean all of it, and a default the host
// lacks is left out rather than failing the start.
func containerCapabilities(adds, drops []string, privileged bool, host []string) ([]string, error) {
	if privileged {
		return slices.Clone(host), nil
	}
	var basics []string
	for _, c := range defaultCapabilities() {
		if slices.Contains(host, c) {
			basics = append(basics, c)
		}
	}
	if len(adds) == 0 && len(drops) == 0 {
		return basics, nil
	}
	// Dropping what the host lacks anyway is harmless, so only adds are
	// checked against it.
	capDrop, err := normalizeCapabilities(drops, nil)
	if err != nil {
		return nil, err
	}
	capAdd, err := normalizeCapabilities(adds, host)
	if err != nil {
		return nil, err
	}
	var caps []string
	switch {
	case slices.Contains(capAdd, "ALL"):
		for _, c := range host {
			if !slices.Contains(capDrop, c) {
				caps = append(caps, c)
			}
		}
	case slices.Contains(capDrop, "ALL"):
		for _, c := range capAdd {
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	default:
		for _, c := range basics {
			if !slices.Contains(capDrop, c) {
				caps = append(caps, c)
			}
		}
		for _, c := range capAdd {
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	}
	return caps, nil
}
