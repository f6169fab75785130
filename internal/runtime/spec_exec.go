package runtime

import (
	"errors"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"berth/internal/errdefs"
)

// ExecOptions is one `docker exec`'s process settings.
type ExecOptions struct {
	Cmd        []string
	Env        []string
	WorkingDir string
	// User is `-u user[:group]`; "" runs as the container's user.
	User string
	// GroupAdd is the container's --group-add, applied when User is set.
	GroupAdd   []string
	Tty        bool
	Privileged bool
	// HostCapabilities is the host's bounding set for Privileged; nil
	// means read it now.
	HostCapabilities []string
}

// ExecProcess derives an exec's process from the container's spec, as
// Docker's exec does: it keeps the container's environment, capabilities,
// rlimits, no-new-privileges, AppArmor and OOM settings, then applies the
// exec's own user (resolved in rootfs), environment, working directory and
// TTY. Privileged gives every capability the host has.
func ExecProcess(base *specs.Spec, rootfs string, cfg ExecOptions) (*specs.Process, error) {
	if base == nil || base.Process == nil {
		return nil, errors.New("exec: container spec has no process")
	}
	if len(cfg.Cmd) == 0 {
		return nil, errdefs.Invalid(errors.New("No exec command specified"))
	}
	bp := base.Process
	p := &specs.Process{
		Terminal:        cfg.Tty,
		User:            bp.User,
		Args:            slices.Clone(cfg.Cmd),
		Env:             slices.Clone(bp.Env),
		Cwd:             bp.Cwd,
		Rlimits:         slices.Clone(bp.Rlimits),
		NoNewPrivileges: bp.NoNewPrivileges,
		ApparmorProfile: bp.ApparmorProfile,
		SelinuxLabel:    bp.SelinuxLabel,
		OOMScoreAdj:     bp.OOMScoreAdj,
	}
	p.User.AdditionalGids = slices.Clone(bp.User.AdditionalGids)
	if cfg.WorkingDir != "" {
		p.Cwd = cfg.WorkingDir
	}
	if cfg.Tty && !hasEnv(p.Env, "TERM") {
		p.Env = append(p.Env, "TERM=xterm")
	}
	if cfg.User != "" {
		usr, err := resolveUser(rootfs, cfg.User, cfg.GroupAdd)
		if err != nil {
			return nil, err
		}
		p.User = specs.User{UID: usr.uid, GID: usr.gid, AdditionalGids: usr.additionalGids, Umask: bp.User.Umask}
		// HOME follows the exec's user, unless the exec sets it.
		p.Env = replaceOrAppendEnv(p.Env, []string{"HOME=" + usr.home})
	}
	p.Env = replaceOrAppendEnv(p.Env, cfg.Env)

	var caps []string
	if cfg.Privileged {
		caps = cfg.HostCapabilities
		if caps == nil {
			var err error
			if caps, err = HostCapabilities(); err != nil {
				return nil, err
			}
		}
	} else if bp.Capabilities != nil {
		caps = bp.Capabilities.Bounding
	}
	caps = slices.Clone(caps)
	if p.User.UID == 0 {
		p.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	} else {
		p.Capabilities = &specs.LinuxCapabilities{Bounding: caps}
	}
	return p, nil
}
