package integration

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// dockerCLI is the real Docker CLI the suite checks berth against.
const dockerCLI = "/usr/local/bin/docker"

// suite is what TestMain prepares once for every test: the built binaries,
// the busybox rootfs tar, and a shared daemon with busybox:latest imported.
type suite struct {
	skip      string           // non-empty: why every test skips
	binDir    string           // berth, berthd, berth-shim, berth-registry
	buildErrs map[string]error // binary name -> why it did not build
	busybox   string           // busybox rootfs tar (as scripts/mkbusybox.sh makes)
	shared    *daemon
	sharedErr error

	registryMu sync.Mutex // serialises making the registry:2 image
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

// binaries are what the suite builds from cmd/.
var binaries = []string{"berth", "berthd", "berth-shim", "berth-registry"}

// buildBinaries builds the binaries with the go tool into dir, statically
// (berth-registry goes into the registry:2 image, which has no libc),
// keeping going past failures so each test can say which binary it lacks.
func buildBinaries(dir string, errs map[string]error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		for _, b := range binaries {
			errs[b] = err
		}
		return
	}
	for _, b := range binaries {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b), "./cmd/"+b)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			errs[b] = fmt.Errorf("go build ./cmd/%s: %w\n%s", b, err, strings.TrimSpace(string(out)))
			fmt.Fprintf(os.Stderr, "integration: %v\n", errs[b])
		}
	}
}

// binary returns the path of a built binary, failing the test when it did
// not build.
func binary(t *testing.T, name string) string {
	t.Helper()
	if err := the.buildErrs[name]; err != nil {
		t.Fatalf("%s did not build: %v", name, err)
	}
	return filepath.Join(the.binDir, name)
}

// registryImage makes sure d has registry:2 (and registry:latest), the
// registry:2-compatible image scripts/registry-image.sh makes from the
// suite's berth-registry, making it the first time a test on d asks. The
// image stays for the daemon's life, as busybox does.
func registryImage(t *testing.T, d *daemon) {
	t.Helper()
	if referenceDaemon() {
		t.Skip("the reference dockerd has no registry:2 image (there is no Docker Hub here)")
	}
	bin, cli := binary(t, "berth-registry"), binary(t, "berth")
	the.registryMu.Lock()
	defer the.registryMu.Unlock()
	if status, _, _, err := d.api(http.MethodGet, "/images/registry:2/json", "", nil); err == nil && status == http.StatusOK {
		return
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "registry-image.sh"))
	cmd.Env = append(cleanEnv(),
		"PATH="+os.Getenv("PATH"),
		"BERTH="+cli,
		"BERTH_REGISTRY_BIN="+bin,
		"DOCKER_HOST=unix://"+d.sock,
		"DOCKER_CONFIG="+filepath.Join(d.root, "dockercfg"),
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/registry-image.sh: %v\n%s", err, out)
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
