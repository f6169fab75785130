package shim

import (
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigFile is the name of the shim's configuration inside the bundle.
const ConfigFile = "shim.json"

// Config is everything a shim needs to run one container. berthd writes it
// to <bundle>/shim.json before starting `berth-shim <bundle>`.
type Config struct {
	ID          string   `json:"id"`
	Bundle      string   `json:"bundle"`       // holds the OCI config.json
	Runtime     string   `json:"runtime"`      // path of crun or runc
	RuntimeRoot string   `json:"runtime_root"` // the runtime's --root
	RuntimeArgs []string `json:"runtime_args,omitempty"`
	// V1View runs the shim, and so every runtime command, in the cgroup v1
	// view (see ExecInV1View): crun on a hybrid cgroup host.
	V1View      bool   `json:"v1_view,omitempty"`
	Socket      string `json:"socket"`    // unix socket the shim serves
	ExitFile    string `json:"exit_file"` // written (atomically) when the container exits
	LogPath     string `json:"log_path,omitempty"`
	LogMaxSize  int64  `json:"log_max_size,omitempty"`  // bytes; 0: no rotation
	LogMaxFiles int    `json:"log_max_files,omitempty"` // kept files including the live one
	Terminal    bool   `json:"terminal,omitempty"`
	OpenStdin   bool   `json:"open_stdin,omitempty"`
	StdinOnce   bool   `json:"stdin_once,omitempty"`
	// CgroupPath (added) is the container's cgroup as config.json's
	// cgroupsPath names it, e.g. "/berth/<id>": where the shim reads the
	// OOM-kill count when the container exits. "" reports no OOM kills.
	CgroupPath string `json:"cgroup_path,omitempty"`
	// SealedRuntime (added) says descriptor RuntimeFD holds a sealed copy
	// of the runtime binary, which the shim runs instead of Runtime.
	SealedRuntime bool `json:"sealed_runtime,omitempty"`
	// RuntimeFile is that copy, passed by the launcher (not serialised).
	RuntimeFile *os.File `json:"-"`
}

// Request is the first line a client sends on a new connection, as JSON.
// Op selects the operation; the other fields are its arguments.
type Request struct {
	Op     string `json:"op"`               // state, start, wait, kill, attach, resize, exec, exec-wait, shutdown
	Signal int    `json:"signal,omitempty"` // kill
	All    bool   `json:"all,omitempty"`    // kill: every process in the container
	ExecID string `json:"exec_id,omitempty"`
	// attach
	Stdin  bool `json:"stdin,omitempty"`
	Stdout bool `json:"stdout,omitempty"`
	Stderr bool `json:"stderr,omitempty"`
	// resize
	Height uint16 `json:"height,omitempty"`
	Width  uint16 `json:"width,omitempty"`
	// exec
	Process *specs.Process `json:"process,omitempty"`
	Detach  bool           `json:"detach,omitempty"`
	// NoStdin (exec, added) gives the exec /dev/null as stdin instead of a
	// pipe fed by the connection, as `docker exec` without -i does. Without
	// it the pipe closes when the client half-closes its connection.
	NoStdin bool `json:"no_stdin,omitempty"`
}

// ReadyFD is the descriptor (the first of exec.Cmd.ExtraFiles) on which the
// shim reports, once, that the container is created: one JSON Ready line,
// then the shim closes it.
const ReadyFD = 3

// RuntimeFD is the descriptor (the second of exec.Cmd.ExtraFiles) holding
// the sealed runtime binary when Config.SealedRuntime is set.
const RuntimeFD = 4

// Ready is the shim's readiness report. Error carries the runtime's own
// message, prefixed "OCI runtime create failed: " as dockerd does.
type Ready struct {
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// Response is the one JSON line the shim answers with. Error is set when the
// operation failed; for attach and exec the raw stream follows the line.
type Response struct {
	Error string      `json:"error,omitempty"`
	Pid   int         `json:"pid,omitempty"`
	State *State      `json:"state,omitempty"`
	Exit  *ExitStatus `json:"exit,omitempty"`
}

// Status of the container process as the shim sees it.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusStopped = "stopped"
)

// State is the answer to "state".
type State struct {
	ID     string      `json:"id"`
	Pid    int         `json:"pid"`
	Status string      `json:"status"`
	Exit   *ExitStatus `json:"exit,omitempty"`
	// ShimPid (added) is the shim's own pid.
	ShimPid int `json:"shim_pid,omitempty"`
}

// ExitStatus is how a process ended. Code follows Docker: the exit status,
// or 128+signal when a signal killed it.
type ExitStatus struct {
	Code      int       `json:"code"`
	ExitedAt  time.Time `json:"exited_at"`
	OOMKilled bool      `json:"oom_killed,omitempty"`
	Error     string    `json:"error,omitempty"`
}
