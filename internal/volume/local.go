package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/docker/go-units"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"berth/internal/errdefs"
)

// The local driver: a volume is the directory <Root>/<name>/_data, or, when
// its options name a device, that device mounted there with mount(2) while
// some container holds it (dockerd's volume/local driver behaves the same).

// validName is dockerd's rule for local volume names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func checkName(name string) error {
	if !validName.MatchString(name) {
		return errdefs.Invalid(fmt.Errorf("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name, name))
	}
	return nil
}

// localOpts are the local driver's options keys.
var localOpts = map[string]bool{"type": true, "device": true, "o": true, "size": true}

// validateOpts checks a local volume's options as dockerd does. quota tells
// whether the volumes' filesystem can enforce a size.
func validateOpts(opts map[string]string, quota bool) error {
	for k := range opts {
		if !localOpts[k] {
			return errdefs.Invalid(fmt.Errorf("invalid option key: %q", k))
		}
	}
	if v, ok := opts["size"]; ok {
		size, err := units.RAMInBytes(v)
		if err != nil {
			return errdefs.Invalid(err)
		}
		if size > 0 && !quota {
			return errdefs.Invalid(errors.New("quota size requested but no quota support"))
		}
	}
	// As dockerd: a device needs a type and the other way round, and mount
	// options only make sense with both.
	required := map[string][]string{"device": {"type"}, "type": {"device"}, "o": {"device", "type"}}
	for _, k := range []string{"device", "type", "o"} {
		if _, ok := opts[k]; !ok {
			continue
		}
		for _, need := range required[k] {
			if _, ok := opts[need]; !ok {
				return errdefs.Invalid(fmt.Errorf("missing required option: %q", need))
			}
		}
	}
	if opts["type"] == "cifs" && opts["device"] != "" {
		u, err := url.Parse(opts["device"])
		if err != nil {
			return errdefs.Invalid(fmt.Errorf("error parsing mount device url: %w", err))
		}
		if u.Scheme != "" {
			return errdefs.Invalid(errors.New("URL scheme not supported for cifs device, use //host/share"))
		}
	}
	return nil
}

// hasDevice reports whether opts ask for a mount rather than a directory.
func hasDevice(opts map[string]string) bool { return opts["device"] != "" }

// mountFlags are the options of `o` that are mount(2) flags rather than
// filesystem data; clear is true for the options that undo a flag.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"defaults":      {false, 0},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"suid":          {true, unix.MS_NOSUID},
	"nosuid":        {false, unix.MS_NOSUID},
	"dev":           {true, unix.MS_NODEV},
	"nodev":         {false, unix.MS_NODEV},
	"exec":          {true, unix.MS_NOEXEC},
	"noexec":        {false, unix.MS_NOEXEC},
	"sync":          {false, unix.MS_SYNCHRONOUS},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"remount":       {false, unix.MS_REMOUNT},
	"mand":          {false, unix.MS_MANDLOCK},
	"nomand":        {true, unix.MS_MANDLOCK},
	"atime":         {true, unix.MS_NOATIME},
	"noatime":       {false, unix.MS_NOATIME},
	"diratime":      {true, unix.MS_NODIRATIME},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"bind":          {false, unix.MS_BIND},
	"rbind":         {false, unix.MS_BIND | unix.MS_REC},
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
}

// mountArgs are the arguments of one mount(2) call.
type mountArgs struct {
	source string
	fstype string
	flags  uintptr
	data   string
}

// lookupFunc resolves a host name to an IP address (net.ResolveIPAddr in
// the daemon; a table in tests).
type lookupFunc func(host string) (string, error)

func resolveIP(host string) (string, error) {
	a, err := net.ResolveIPAddr("ip", host)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

// buildMount turns a local volume's options into mount(2) arguments. As
// dockerd: nfs's addr= and cifs's device host are resolved to an IP address
// (the kernel does no name lookups), and the remaining `o` options that are
// not flags go to the filesystem as data.
func buildMount(opts map[string]string, lookup lookupFunc) (mountArgs, error) {
	m := mountArgs{source: opts["device"], fstype: opts["type"]}
	var data []string
	for _, o := range strings.Split(opts["o"], ",") {
		if o == "" {
			continue
		}
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				m.flags &^= f.flag
			} else {
				m.flags |= f.flag
			}
			continue
		}
		data = append(data, o)
	}
	switch m.fstype {
	case "nfs", "nfs4":
		for i, o := range data {
			if host, ok := strings.CutPrefix(o, "addr="); ok && host != "" {
				ip, err := lookup(host)
				if err != nil {
					return m, fmt.Errorf("error resolving passed in network volume address: %w", err)
				}
				data[i] = "addr=" + ip
			}
		}
	case "cifs":
		u, err := url.Parse(m.source)
		if err != nil {
			return m, fmt.Errorf("error parsing mount device url: %w", err)
		}
		if host := u.Hostname(); host != "" {
			ip, err := lookup(host)
			if err != nil {
				return m, fmt.Errorf("error resolving passed in network volume address: %w", err)
			}
			data = append(data, "addr="+ip)
		}
	}
	m.data = strings.Join(data, ",")
	if m.flags&unix.MS_BIND != 0 {
		// A bind mount takes no filesystem type or data.
		m.fstype = ""
		m.data = ""
	}
	return m, nil
}

// hidePassword keeps a cifs password out of error messages.
func hidePassword(msg, o string) string {
	for _, kv := range strings.Split(o, ",") {
		if pw, ok := strings.CutPrefix(kv, "password="); ok && pw != "" {
			msg = strings.ReplaceAll(msg, "password="+pw, "password=********")
		}
	}
	return msg
}

// mountDevice mounts a local volume's device on target.
func mountDevice(target string, opts map[string]string, lookup lookupFunc) error {
	m, err := buildMount(opts, lookup)
	if err != nil {
		return err
	}
	// MS_RDONLY is ignored on the first call of a bind mount: the kernel
	// wants a remount to make it read-only.
	flags := m.flags
	if flags&unix.MS_BIND != 0 {
		flags &^= unix.MS_RDONLY
	}
	if err := unix.Mount(m.source, target, m.fstype, flags, m.data); err != nil {
		msg := hidePassword(fmt.Sprintf("mount %s:%s, flags: %#x, data: %s: %v", m.source, target, flags, m.data, err), opts["o"])
		return fmt.Errorf("failed to mount local volume: %s", msg)
	}
	if m.flags&unix.MS_BIND != 0 && m.flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", target, "", m.flags|unix.MS_REMOUNT, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("failed to mount local volume: remount %s read-only: %w", target, err)
		}
	}
	return nil
}

// unmountDevice unmounts target if something is mounted there.
func unmountDevice(target string) error {
	mounted, err := mountinfo.Mounted(target)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if !mounted {
		return nil
	}
	if err := unix.Unmount(target, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("error while unmounting volume path '%s': %w", target, err)
	}
	return nil
}

// isMounted reports whether a filesystem is mounted on path.
func isMounted(path string) bool {
	m, err := mountinfo.Mounted(path)
	return err == nil && m
}

// dirSize is the apparent size of the files under dir, each hard-linked
// file counted once (as dockerd's volume sizes in `system df`).
func dirSize(dir string) (int64, error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var size int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 && !info.IsDir() {
			k := inode{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		if !info.IsDir() {
			size += info.Size()
		}
		return nil
	})
	return size, err
}

// mkdirData makes <root>/<name>/_data.
func mkdirData(root, name string) error {
	if err := os.MkdirAll(filepath.Join(root, name, "_data"), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}
