package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dockerCLI is the real Docker CLI the suite checks berth against.
const dockerCLI = "/usr/local/bin/docker"

// suite is what TestMain prepares once for every test: the built binaries,
// the busybox rootfs tar, and a shared daemon with busybox:latest imported.
type suite struct {
	skip      string           // non-empty: why every test skips
	binDir    string           // berth, berthd, berth-shim
	buildErrs map[string]error // binary name -> why it did not build
	busybox   string           // busybox rootfs tar (as scripts/mkbusybox.sh makes)
	shared    *daemon
	sharedErr error
}

// the is the one suite of this test binary, set up by TestMain.
var the = &suite{buildErrs: map[string]error{}}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		the.skip = "needs root: the integration suite mounts overlays and runs containers (sudo bash scripts/test.sh)"
		return m.Run()
	}
	work, err := os.MkdirTemp("/tmp", "btsuite")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(work)

	the.binDir = filepath.Join(work, "bin")
	buildBinaries(the.binDir, the.buildErrs)

	the.busybox = filepath.Join(work, "busybox.tar")
	if err := writeBusyboxTar(filepath.Join(work, "rootfs"), the.busybox); err != nil {
		fmt.Fprintln(os.Stderr, "integration: making the busybox rootfs:", err)
		return 1
	}

	if err := the.buildErrs["berthd"]; err != nil && !referenceDaemon() {
		the.sharedErr = fmt.Errorf("berthd did not build: %w", err)
	} else if err := the.buildErrs["berth-shim"]; err != nil && !referenceDaemon() {
		the.sharedErr = fmt.Errorf("berth-shim did not build: %w", err)
	} else {
		the.shared, the.sharedErr = newDaemon()
		if the.sharedErr == nil {
			the.sharedErr = the.shared.start()
		}
		if the.sharedErr == nil {
			the.sharedErr = the.shared.importBusybox()
		}
		if the.sharedErr != nil && the.shared != nil {
			the.sharedErr = fmt.Errorf("%w\n--- berthd log ---\n%s", the.sharedErr, the.shared.logTail(0, 60))
		}
	}

	code := m.Run()

	if the.shared != nil {
		for _, problem := range the.shared.teardown() {
			fmt.Fprintln(os.Stderr, "integration: shared daemon teardown:", problem)
			code = 1
		}
	}
	return code
}

// buildBinaries builds the three binaries with the go tool into dir, keeping
// going past failures so each test can say which binary it lacks.
func buildBinaries(dir string, errs map[string]error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		for _, b := range []string{"berth", "berthd", "berth-shim"} {
			errs[b] = err
		}
		return
	}
	for _, b := range []string{"berth", "berthd", "berth-shim"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b), "./cmd/"+b)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			errs[b] = fmt.Errorf("go build ./cmd/%s: %w\n%s", b, err, strings.TrimSpace(string(out)))
			fmt.Fprintf(os.Stderr, "integration: %v\n", errs[b])
		}
	}
}

// sharedDaemon returns the daemon most tests share, skipping when not root
// and failing when it could not be started. On failure, the test prints what
// the daemon logged while it ran.
func sharedDaemon(t *testing.T) *daemon {
	t.Helper()
	if the.skip != "" {
		t.Skip(the.skip)
	}
	if the.sharedErr != nil {
		t.Fatalf("shared berthd is not running: %v", the.sharedErr)
	}
	d := the.shared
	from := d.logSize()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("berthd log while this test ran:\n%s", d.logTail(from, 150))
		}
	})
	return d
}

// clients are the two CLIs every behaviour is checked with.
var clients = []string{"docker", "berth"}

// eachClient runs f as a subtest per CLI, against d.
func eachClient(t *testing.T, d *daemon, f func(t *testing.T, c *client)) {
	t.Helper()
	for _, name := range clients {
		t.Run(name, func(t *testing.T) {
			f(t, d.client(t, name))
		})
	}
}
