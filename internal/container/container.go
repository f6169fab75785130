package container

import (
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"berth/internal/runtime"
)

// State is a container's lifecycle state as stored and as inspect shows it.
type State struct {
	Status     container.ContainerState `json:"status"`
	Pid        int                      `json:"pid,omitempty"`
	ExitCode   int                      `json:"exit_code"`
	Error      string                   `json:"error,omitempty"`
	OOMKilled  bool                     `json:"oom_killed,omitempty"`
	StartedAt  time.Time                `json:"started_at"`
	FinishedAt time.Time                `json:"finished_at"`
	Health     *container.Health        `json:"health,omitempty"`
}

// Running reports whether the container's process is alive.
func (s State) Running() bool {
	return s.Status == container.StateRunning || s.Status == container.StatePaused
}

// Container is one container. The exported fields are persisted as JSON in
// the store; the rest lives only while berthd runs.
type Container struct {
	ID           string                `json:"id"`
	Name         string                `json:"name"` // with the leading "/"
	Created      time.Time             `json:"created"`
	Path         string                `json:"path"`
	Args         []string              `json:"args"`
	Config       *container.Config     `json:"config"`
	HostConfig   *container.HostConfig `json:"host_config"`
	ImageID      string                `json:"image_id"`
	Runtime      string                `json:"runtime"`
	State        State                 `json:"state"`
	RestartCount int                   `json:"restart_count"`
	ShimSocket   string                `json:"shim_socket,omitempty"`
	// ManuallyStopped is set by stop and fatal kills, cleared by start:
	// unless-stopped does not bring such a container back on daemon start.
	ManuallyStopped bool `json:"manually_stopped,omitempty"`
	// Networks is what inspect shows under NetworkSettings.Networks.
	Networks map[string]*network.EndpointSettings `json:"networks,omitempty"`
	// Ports are the published ports of the running container (network.go).
	Ports network.PortMap `json:"ports,omitempty"`
	// SandboxKey is the running container's network namespace.
	SandboxKey string `json:"sandbox_key,omitempty"`
	// MountPoints are the container's volumes, binds and tmpfs mounts (mounts.go).
	MountPoints []MountPoint `json:"mount_points,omitempty"`

	mu            sync.Mutex
	shim          *runtime.Shim            // guarded by mu; nil when not running
	lastShim      *runtime.Shim            // guarded by mu; the last run's shim, until its clean-up is done
	exited        chan struct{}            // guarded by mu; closed when the current run ends
	removed       chan struct{}            // closed once when the container is removed
	pending       []*pendingAttach         // guarded by mu; attach requests waiting for start
	busy          bool                     // guarded by mu; a start/stop/remove is in progress
	stopping      bool                     // guarded by mu; a stop was requested (no restart)
	execs         map[string]*Exec         // guarded by mu
	changed       chan struct{}            // guarded by mu; closed and renewed on every state change
	exits         int                      // guarded by mu; how many runs have ended since berthd started
	backoff       time.Duration            // guarded by mu; the restart policy's current delay
	restartCancel chan struct{}            // guarded by mu; closed to cancel a pending restart
	lastStats     *container.StatsResponse // guarded by mu; the latest stats sample
	olderStats    *container.StatsResponse // guarded by mu; the one before it
	startStats    *container.StatsResponse // guarded by mu; CPU times as the current run started
}

func newContainer() *Container {
	c := &Container{removed: make(chan struct{}), execs: map[string]*Exec{}, changed: make(chan struct{})}
	c.exited = make(chan struct{})
	close(c.exited) // not running: waiting for exit returns at once
	return c
}

// ShortID is the 12-character form Docker prints.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// displayName is the name without its leading slash.
func (c *Container) displayName() string { return strings.TrimPrefix(c.Name, "/") }

// snapshot returns a copy of the persisted fields, safe to read without
// holding c.mu. Preconditions: c.mu held.
func (c *Container) snapshotLocked() *Container {
	cp := &Container{
		ID: c.ID, Name: c.Name, Created: c.Created, Path: c.Path, Args: c.Args,
		Config: c.Config, HostConfig: c.HostConfig, ImageID: c.ImageID, Runtime: c.Runtime,
		State: c.State, RestartCount: c.RestartCount, ShimSocket: c.ShimSocket, Networks: c.Networks,
		ManuallyStopped: c.ManuallyStopped, MountPoints: c.MountPoints, Ports: c.Ports, SandboxKey: c.SandboxKey,
	}
	if h := c.State.Health; h != nil {
		// Health changes under c.mu; the copy must not share it.
		hc := *h
		hc.Log = append([]*container.HealthcheckResult(nil), h.Log...)
		cp.State.Health = &hc
	}
	return cp
}

// formatTime writes a time as Docker does in inspect: RFC3339Nano, and the
// zero time as 0001-01-01T00:00:00Z.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// notifyLocked wakes everyone waiting for a state change.
// Preconditions: c.mu held.
func (c *Container) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
