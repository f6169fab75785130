package container

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"berth/internal/errdefs"
	"berth/internal/runtime"
)

// updateTimeout bounds one `runtime update`; it only writes cgroup files.
const updateTimeout = 30 * time.Second

// Update changes a container's resources and restart policy, as
// POST /containers/{id}/update does. The new settings are stored first; on
// a running (or paused) container they are then applied through the OCI
// runtime, and the old ones are put back if that fails. A stopped
// container gets them at its next start. It returns dockerd's warnings for
// settings this host cannot apply.
func (s *Service) Update(ctx context.Context, ref string, upd container.UpdateConfig) ([]string, error) {
	hc := &container.HostConfig{Resources: upd.Resources, RestartPolicy: upd.RestartPolicy}
	if hc.PidsLimit != nil && *hc.PidsLimit <= 0 {
		// 0 and any negative value mean "unlimited" when updating.
		var unlimited int64
		hc.PidsLimit = &unlimited
	}
	if err := container.ValidateRestartPolicy(hc.RestartPolicy); err != nil {
		return nil, errdefs.Invalid(err)
	}
	warnings, err := checkHostConfigResources(hc, thisHost(), true)
	if err != nil {
		return warnings, err
	}
	c, err := s.store.get(ref)
	if err != nil {
		return warnings, err
	}

	c.mu.Lock()
	if c.State.Status == container.StateRemoving || c.State.Status == container.StateDead {
		c.mu.Unlock()
		return warnings, errdefs.Conflict(fmt.Errorf("Cannot update container %s: container is marked for removal and cannot be \"update\"", c.ID))
	}
	old := c.HostConfig
	merged := *old
	if err := mergeUpdate(&merged, hc); err != nil {
		c.mu.Unlock()
		return warnings, fmt.Errorf("Cannot update container %s: %w", c.ID, err)
	}
	c.HostConfig = &merged
	if err := s.store.saveLocked(c); err != nil {
		c.HostConfig = old
		c.mu.Unlock()
		return warnings, fmt.Errorf("Cannot update container %s: %w", c.ID, err)
	}
	running := c.State.Running()
	rt, rtErr := s.runtimeFor(c)
	c.mu.Unlock()
	s.publish(c, "update", nil)
	if !running {
		return warnings, nil
	}

	err = rtErr
	if err == nil {
		err = s.applyResources(ctx, c.ID, c.Runtime, rt, merged.Resources)
	}
	if err != nil {
		c.mu.Lock()
		restored := c.HostConfig == &merged // not replaced by a later update meanwhile
		if restored {
			c.HostConfig = old
			logErr(s.log, "save container state", s.store.saveLocked(c), "container_id", c.ID)
		}
		c.mu.Unlock()
		if restored && rtErr == nil {
			// The runtime may have written some files before it failed
			// (and runc's own roll-back can fail): put the old ones back.
			logErr(s.log, "restore resources after failed update", s.applyResources(ctx, c.ID, c.Runtime, rt, old.Resources), "container_id", c.ID)
		}
		return warnings, fmt.Errorf("Cannot update container %s: %w", c.ID, err)
	}
	return warnings, nil
}

// mergeUpdate applies an update's non-zero settings to hc, refusing the
// combinations dockerd refuses: CPU period or quota next to a CPU count,
// and a memory limit above the stored memory+swap limit without a new one.
func mergeUpdate(hc *container.HostConfig, upd *container.HostConfig) error {
	r, cur := upd.Resources, &hc.Resources
	switch {
	case r.NanoCPUs > 0 && cur.CPUPeriod > 0:
		return errdefs.Conflict(errors.New("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"))
	case r.NanoCPUs > 0 && cur.CPUQuota > 0:
		return errdefs.Conflict(errors.New("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"))
	case r.CPUPeriod > 0 && cur.NanoCPUs > 0:
		return errdefs.Conflict(errors.New("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"))
	case r.CPUQuota > 0 && cur.NanoCPUs > 0:
		return errdefs.Conflict(errors.New("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"))
	case r.Memory != 0 && r.Memory > cur.MemorySwap && r.MemorySwap == 0:
		return errdefs.Conflict(errors.New("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"))
	}
	if upd.RestartPolicy.Name != "" {
		if hc.AutoRemove && !upd.RestartPolicy.IsNone() {
			return errdefs.Conflict(errors.New("Restart policy cannot be updated because AutoRemove is enabled for the container"))
		}
		hc.RestartPolicy = upd.RestartPolicy
	}
	if r.BlkioWeight != 0 {
		cur.BlkioWeight = r.BlkioWeight
	}
	if r.BlkioWeightDevice != nil {
		cur.BlkioWeightDevice = r.BlkioWeightDevice
	}
	if r.BlkioDeviceReadBps != nil {
		cur.BlkioDeviceReadBps = r.BlkioDeviceReadBps
	}
	if r.BlkioDeviceWriteBps != nil {
		cur.BlkioDeviceWriteBps = r.BlkioDeviceWriteBps
	}
	if r.BlkioDeviceReadIOps != nil {
		cur.BlkioDeviceReadIOps = r.BlkioDeviceReadIOps
	}
	if r.BlkioDeviceWriteIOps != nil {
		cur.BlkioDeviceWriteIOps = r.BlkioDeviceWriteIOps
	}
	if r.CPUShares != 0 {
		cur.CPUShares = r.CPUShares
	}
	if r.NanoCPUs != 0 {
		cur.NanoCPUs = r.NanoCPUs
	}
	if r.CPUPeriod != 0 {
		cur.CPUPeriod = r.CPUPeriod
	}
	if r.CPUQuota != 0 {
		cur.CPUQuota = r.CPUQuota
	}
	if r.CpusetCpus != "" {
		cur.CpusetCpus = r.CpusetCpus
	}
	if r.CpusetMems != "" {
		cur.CpusetMems = r.CpusetMems
	}
	if r.Memory != 0 {
		cur.Memory = r.Memory
	}
	if r.MemorySwap != 0 {
		cur.MemorySwap = r.MemorySwap
	}
	if r.MemoryReservation != 0 {
		cur.MemoryReservation = r.MemoryReservation
	}
	if r.CPURealtimePeriod != 0 {
		cur.CPURealtimePeriod = r.CPURealtimePeriod
	}
	if r.CPURealtimeRuntime != 0 {
		cur.CPURealtimeRuntime = r.CPURealtimeRuntime
	}
	if r.PidsLimit != nil {
		cur.PidsLimit = r.PidsLimit
	}
	return nil
}

// applyResources runs `<runtime> --root <exec-root>/runtime/<name> update
// --resources <file> <id>` with the container's whole resource set, as the
// spec would hold it; settings left out keep their current values.
func (s *Service) applyResources(ctx context.Context, id, rtName string, rt Runtime, r container.Resources) error {
	res, err := runtime.Resources(r)
	if err != nil {
		return err
	}
	// The device rules are the container's, set at create; an update
	// carries none, or the runtime would replace them.
	res.Devices = nil
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.execDir(id), "update-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	logPath := strings.TrimSuffix(f.Name(), ".json") + ".log"
	defer os.Remove(logPath)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), updateTimeout)
	defer cancel()
	argv := rt.command(s.cfg.ShimBinary, "--root", filepath.Join(s.cfg.ExecRoot, "runtime", rtName), "--log", logPath, "--log-format", "json", "update", "--resources", f.Name(), id)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if msg := runtimeError(logPath); msg != "" {
			return errors.New(msg)
		}
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return errors.New(msg)
		}
		return fmt.Errorf("%s update: %w", filepath.Base(rt.Path), err)
	}
	return nil
}

// runtimeError is the message of the last error a runtime logged in JSON
// ({"level":"error","msg":…} lines), or "".
func runtimeError(logPath string) string {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	var msg string
	for _, line := range bytes.Split(data, []byte("\n")) {
		var e struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(line, &e) == nil && (e.Level == "error" || e.Level == "fatal") && e.Msg != "" {
			msg = e.Msg
		}
	}
	return msg
}
