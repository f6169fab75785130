package container

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/storage"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
)

// ListOptions are GET /containers/json's parameters.
type ListOptions struct {
	All     bool
	Limit   int
	Size    bool
	Filters filters.Args
}

var listFilters = []string{"id", "name", "label", "status", "exited", "ancestor", "before", "since",
	"volume", "network", "health", "publish", "expose", "is-task"}

// List is `ps`: newest first, running only unless All.
func (s *Service) List(ctx context.Context, opts ListOptions) ([]container.Summary, error) {
	f := opts.Filters
	if err := f.Validate(listFilters...); err != nil {
		return nil, err
	}
	for _, st := range f.Get("status") {
		if err := container.ValidateContainerState(container.ContainerState(st)); err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("invalid filter 'status=%s'", st))
		}
	}
	var exited []int
	for _, e := range f.Get("exited") {
		n, err := strconv.Atoi(e)
		if err != nil {
			return nil, errdefs.Invalid(fmt.Errorf("invalid filter 'exited=%s'", e))
		}
		exited = append(exited, n)
	}
	all := s.store.all()
	// before/since are positions in creation order.
	var beforeT, sinceT time.Time
	if v := f.Get("before"); len(v) > 0 {
		c, err := s.store.get(v[0])
		if err != nil {
			return nil, err
		}
		beforeT = c.Created
	}
	if v := f.Get("since"); len(v) > 0 {
		c, err := s.store.get(v[0])
		if err != nil {
			return nil, err
		}
		sinceT = c.Created
	}
	ancestors := map[string]bool{}
	for _, a := range f.Get("ancestor") {
		if img, err := s.cfg.Images.Resolve(ctx, a); err == nil {
			ancestors[img.ID] = true
		}
	}
	var out []container.Summary
	for _, c := range all {
		c.mu.Lock()
		cp := c.snapshotLocked()
		c.mu.Unlock()
		st := cp.State
		// As dockerd: a limit (ps -n, -l) looks at stopped containers too.
		if !opts.All && opts.Limit <= 0 && !st.Running() && !f.Has("status") && len(exited) == 0 {
			continue
		}
		if !beforeT.IsZero() && !cp.Created.Before(beforeT) {
			continue
		}
		if !sinceT.IsZero() && !cp.Created.After(sinceT) {
			continue
		}
		if f.Has("id") && !matchAnyPrefix(f.Get("id"), cp.ID) {
			continue
		}
		if f.Has("name") && !matchAnySubstring(f.Get("name"), cp.displayName()) {
			continue
		}
		if !f.MatchLabels("label", cp.Config.Labels) {
			continue
		}
		if !f.ExactMatch("status", string(st.Status)) {
			continue
		}
		if len(exited) > 0 {
			if st.Status != container.StateExited {
				continue
			}
			ok := false
			for _, e := range exited {
				ok = ok || e == st.ExitCode
			}
			if !ok {
				continue
			}
		}
		if f.Has("ancestor") && !ancestors[cp.ImageID] && !f.ExactMatch("ancestor", cp.Config.Image) {
			continue
		}
		if f.Has("network") && !matchNetwork(f.Get("network"), cp) {
			continue
		}
		if f.Has("health") {
			h := string(container.NoHealthcheck)
			if st.Health != nil {
				h = string(st.Health.Status)
			}
			if !f.ExactMatch("health", h) {
				continue
			}
		}
		sum := s.summary(ctx, cp, opts.Size)
		out = append(out, sum)
		if opts.Limit > 0 && len(out) >= opts.Limit {
			break
		}
	}
	if out == nil {
		out = []container.Summary{}
	}
	return out, nil
}

func matchAnyPrefix(vals []string, id string) bool {
	for _, v := range vals {
		if strings.HasPrefix(id, v) {
			return true
		}
	}
	return false
}

func matchAnySubstring(vals []string, name string) bool {
	for _, v := range vals {
		if strings.Contains(name, strings.TrimPrefix(v, "/")) {
			return true
		}
	}
	return false
}

func matchNetwork(vals []string, c *Container) bool {
	for _, v := range vals {
		if _, ok := c.Networks[v]; ok {
			return true
		}
	}
	return false
}

// listCommand is the COMMAND column as dockerd writes it: the path, then
// the arguments, each one holding a space between single quotes.
func listCommand(path string, args []string) string {
	cmd := path
	for _, a := range args {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		cmd += " " + a
	}
	return cmd
}

func (s *Service) summary(ctx context.Context, c *Container, size bool) container.Summary {
	sum := container.Summary{
		ID:      c.ID,
		Names:   []string{c.Name},
		Image:   c.Config.Image,
		ImageID: c.ImageID,
		Command: listCommand(c.Path, c.Args),
		Created: c.Created.Unix(),
		Ports:   portSummaries(c.Config, c.Ports), // network.go
		Labels:  c.Config.Labels,
		State:   c.State.Status,
		Status:  statusString(c.State),
		NetworkSettings: &container.NetworkSettingsSummary{
			Networks: c.Networks,
		},
		Mounts: apiMountPoints(c.MountPoints), // mounts.go
	}
	sum.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	if h := c.State.Health; h != nil {
		sum.Health = &container.HealthSummary{Status: h.Status, FailingStreak: h.FailingStreak}
	}
	if size {
		rw, virt, err := s.cfg.Images.RootfsSize(ctx, c.ID)
		if err == nil {
			sum.SizeRw, sum.SizeRootFs = rw, virt
		}
	}
	return sum
}

// statusString is the STATUS column of `ps`, worded as dockerd words it.
func statusString(st State) string {
	switch st.Status {
	case container.StateRunning:
		up := "Up " + units.HumanDuration(time.Since(st.StartedAt))
		if st.Health != nil {
			switch st.Health.Status {
			case container.Starting:
				up += " (health: starting)"
			case container.Healthy, container.Unhealthy:
				up += " (" + string(st.Health.Status) + ")"
			}
		}
		return up
	case container.StatePaused:
		return "Up " + units.HumanDuration(time.Since(st.StartedAt)) + " (Paused)"
	case container.StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	case container.StateRemoving:
		return "Removal In Progress"
	case container.StateDead:
		return "Dead"
	case container.StateCreated:
		return "Created"
	case container.StateExited:
		if st.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", st.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	}
	return string(st.Status)
}

// Inspect is GET /containers/{id}/json.
func (s *Service) Inspect(ctx context.Context, ref string, size bool) (*container.InspectResponse, error) {
	c, err := s.store.get(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	cp := c.snapshotLocked()
	var execIDs []string
	for id := range c.execs {
		execIDs = append(execIDs, id)
	}
	c.mu.Unlock()
	dataDir := s.dataDir(cp.ID)
	st := cp.State
	resp := &container.InspectResponse{
		ID:      cp.ID,
		Created: formatTime(cp.Created),
		Path:    cp.Path,
		Args:    cp.Args,
		State: &container.State{
			Status: st.Status, Running: st.Running(), Paused: st.Status == container.StatePaused,
			Restarting: st.Status == container.StateRestarting, OOMKilled: st.OOMKilled,
			Dead: st.Status == container.StateDead, Pid: st.Pid, ExitCode: st.ExitCode, Error: st.Error,
			StartedAt: formatTime(st.StartedAt), FinishedAt: formatTime(st.FinishedAt),
			Health: st.Health,
		},
		Image:          cp.ImageID,
		ResolvConfPath: dataDir + "/resolv.conf",
		HostnamePath:   dataDir + "/hostname",
		HostsPath:      dataDir + "/hosts",
		LogPath:        s.LogPath(c),
		Name:           cp.Name,
		RestartCount:   cp.RestartCount,
		Driver:         "overlay2",
		Platform:       "linux",
		ExecIDs:        execIDs,
		HostConfig:     cp.HostConfig,
		GraphDriver:    &storage.DriverData{Name: "overlay2", Data: map[string]string{}},
		Mounts:         apiMountPoints(cp.MountPoints), // mounts.go
		Config:         cp.Config,
		NetworkSettings: &container.NetworkSettings{
			SandboxID:  sandboxID(cp),
			SandboxKey: cp.SandboxKey,
			Ports:      apiPorts(cp.Config, cp.Ports), // network.go
			Networks:   cp.Networks,
		},
	}
	if size {
		if rw, virt, err := s.cfg.Images.RootfsSize(ctx, cp.ID); err == nil {
			resp.SizeRw, resp.SizeRootFs = &rw, &virt
		}
	}
	return resp, nil
}

// Rename gives a container a new name.
func (s *Service) Rename(ctx context.Context, ref, newName string) error {
	c, err := s.store.get(ref)
	if err != nil {
		return err
	}
	newName = strings.TrimPrefix(newName, "/")
	if !validName.MatchString(newName) {
		return errdefs.Invalid(fmt.Errorf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", newName))
	}
	old := c.displayName()
	if old == newName {
		return errdefs.Invalid(fmt.Errorf("Renaming a container with the same name as its current name"))
	}
	if err := s.store.rename(c, newName); err != nil {
		return err
	}
	s.publish(c, "rename", map[string]string{"oldName": "/" + old})
	return nil
}

// sandboxID names the running container's network namespace.
func sandboxID(c *Container) string {
	if c.SandboxKey == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(c.SandboxKey))
	return hex.EncodeToString(sum[:])
}
