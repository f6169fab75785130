package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// maxID is the largest uid or gid berth accepts, as runc's user package does
// (the kernel reserves (uid_t)-1).
const maxID = 1<<31 - 1

// passwdEntry is one line of an /etc/passwd file.
type passwdEntry struct {
	name     string
	uid, gid int
	home     string
}

// groupEntry is one line of an /etc/group file.
type groupEntry struct {
	name    string
	gid     int
	members []string
}

// ResolveUser turns Docker's `-u` argument (user, uid, user:group, uid:gid,
// or "" for root) into numeric ids, the supplementary groups and the home
// directory, reading ROOTFS/etc/passwd and ROOTFS/etc/group.
//
// The files are opened inside rootfs the way the container would see them: a
// symlink in the image (say /etc -> /) resolves against rootfs, never the
// host. additionalGids starts with gid, as Docker's spec does, followed by
// the groups in /etc/group that list the user when no group was given.
//
// A name that is not in the file is an error with Docker's wording
// ("unable to find user foo: no matching entries in passwd file"); a
// number that is not there is used as is, with gid 0 and home "/".
func ResolveUser(rootfs, user string) (uid, gid uint32, additionalGids []uint32, home string, err error) {
	u, err := resolveUser(rootfs, user, nil)
	if err != nil {
		return 0, 0, nil, "", err
	}
	return u.uid, u.gid, u.additionalGids, u.home, nil
}

// resolvedUser is the outcome of resolveUser.
type resolvedUser struct {
	uid, gid       uint32
	additionalGids []uint32
	home           string
	umask          *uint32 // set by GenerateSpec from HostConfig.Umask
}

// resolveUser is ResolveUser plus --group-add, whose entries are group names
// or numbers resolved against the same /etc/group.
func resolveUser(rootfs, user string, groupAdd []string) (resolvedUser, error) {
	userArg, groupArg, hasGroup := strings.Cut(user, ":")

	passwd, err := readPasswd(rootfs)
	if err != nil {
		return resolvedUser{}, err
	}
	var groups []groupEntry
	if hasGroup || groupArg != "" || userArg != "" || len(groupAdd) > 0 {
		if groups, err = readGroup(rootfs); err != nil {
			return resolvedUser{}, err
		}
	}

	// Defaults as runc's GetExecUser: root, home "/".
	res := resolvedUser{home: "/"}
	var userName string
	userFound := false
	uidNum, uidErr := strconv.Atoi(userArg)
	if userArg == "" {
		uidNum, uidErr = 0, nil
	}
	for _, p := range passwd {
		if (userArg == "" && p.uid == 0) || (userArg != "" && p.name == userArg) || (uidErr == nil && userArg != "" && p.uid == uidNum) {
			res.uid, res.gid, res.home = uint32(p.uid), uint32(p.gid), p.home
			userName = p.name
			userFound = true
			break
		}
	}
	if !userFound {
		if uidErr != nil {
			return resolvedUser{}, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userArg)
		}
		if uidNum < 0 || uidNum > maxID {
			return resolvedUser{}, fmt.Errorf("uids and gids must be in range 0-%d", maxID)
		}
		res.uid = uint32(uidNum)
		if uidNum == 0 {
			res.home = "/root"
		}
	}

	var sgids []uint32
	if hasGroup {
		gid, err := lookupGroup(groups, groupArg)
		if err != nil {
			return resolvedUser{}, err
		}
		res.gid = gid
	} else if userFound {
		// No group given: the user's supplementary groups from /etc/group.
		for _, g := range groups {
			for _, m := range g.members {
				if m == userName {
					sgids = append(sgids, uint32(g.gid))
					break
				}
			}
		}
	}
	for _, ga := range groupAdd {
		gid, err := lookupGroup(groups, ga)
		if err != nil {
			return resolvedUser{}, fmt.Errorf("Unable to find group %s: %w", ga, err)
		}
		sgids = append(sgids, gid)
	}
	res.additionalGids = append([]uint32{res.gid}, sgids...)
	return res, nil
}

func lookupGroup(groups []groupEntry, arg string) (uint32, error) {
	n, numErr := strconv.Atoi(arg)
	for _, g := range groups {
		if g.name == arg || (numErr == nil && g.gid == n) {
			return uint32(g.gid), nil
		}
	}
	if numErr != nil {
		return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", arg)
	}
	if n < 0 || n > maxID {
		return 0, fmt.Errorf("uids and gids must be in range 0-%d", maxID)
	}
	return uint32(n), nil
}

// openInRootfs opens name (an absolute path as the container sees it) for
// reading, resolving every symlink inside rootfs. A missing file is reported
// as (nil, nil): images without /etc/passwd are common.
func openInRootfs(rootfs, name string) (*os.File, error) {
	h, err := pathrs.OpenInRoot(rootfs, name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			return nil, nil
		}
		return nil, fmt.Errorf("open %s in container root: %w", name, err)
	}
	defer h.Close()
	f, err := pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open %s in container root: %w", name, err)
	}
	return f, nil
}

func readPasswd(rootfs string) ([]passwdEntry, error) {
	f, err := openInRootfs(rootfs, "/etc/passwd")
	if err != nil || f == nil {
		return nil, err
	}
	defer f.Close()
	var out []passwdEntry
	err = eachLine(f, func(fields []string) {
		// name:password:uid:gid:gecos:home:shell
		if len(fields) < 4 {
			return
		}
		uid, err1 := strconv.Atoi(fields[2])
		gid, err2 := strconv.Atoi(fields[3])
		if err1 != nil || err2 != nil {
			return
		}
		e := passwdEntry{name: fields[0], uid: uid, gid: gid, home: "/"}
		if len(fields) > 5 && fields[5] != "" {
			e.home = fields[5]
		}
		out = append(out, e)
	})
	return out, err
}

func readGroup(rootfs string) ([]groupEntry, error) {
	f, err := openInRootfs(rootfs, "/etc/group")
	if err != nil || f == nil {
		return nil, err
	}
	defer f.Close()
	var out []groupEntry
	err = eachLine(f, func(fields []string) {
		// name:password:gid:member,member
		if len(fields) < 3 {
			return
		}
		gid, err := strconv.Atoi(fields[2])
		if err != nil {
			return
		}
		e := groupEntry{name: fields[0], gid: gid}
		if len(fields) > 3 && fields[3] != "" {
			e.members = strings.Split(fields[3], ",")
		}
		out = append(out, e)
	})
	return out, err
}

// eachLine calls fn with the colon-separated fields of every non-empty,
// non-comment line of r.
func eachLine(r io.Reader, fn func(fields []string)) error {
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fn(strings.Split(line, ":"))
	}
	return s.Err()
}
