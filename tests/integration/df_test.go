package integration

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// duBytes is `du -sb` of paths together: their apparent size in bytes.
func duBytes(t *testing.T, paths ...string) int64 {
	t.Helper()
	out, err := exec.Command("du", append([]string{"-sbc"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("du %v: %v", paths, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	n, err := strconv.ParseInt(strings.Fields(lines[len(lines)-1])[0], 10, 64)
	if err != nil {
		t.Fatalf("du %v: %q: %v", paths, out, err)
	}
	return n
}

// within5 fails unless got is within 5% of want.
func within5(t *testing.T, what string, got, want int64) {
	t.Helper()
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	if want <= 0 || diff*20 > want {
		t.Errorf("%s: system df says %d bytes, du says %d (more than 5%% apart)", what, got, want)
	}
}

// legacyDF is GET /v1.50/system/df as the docker CLI 28 reads it.
type legacyDF struct {
	LayersSize int64
	Images     []struct {
		ID         string `json:"Id"`
		Size       int64
		SharedSize int64
		Containers int64
	}
	Containers []struct {
		ID     string `json:"Id"`
		SizeRw int64
		State  string
	}
	Volumes []struct {
		Name      string
		UsageData *struct {
			Size     int64
			RefCount int64
		}
	}
	BuildCache []json.RawMessage
}

func getDF(t *testing.T, d *daemon, path string, v any) {
	t.Helper()
	status, _, body, err := d.api(http.MethodGet, path, "", nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", path, status, body, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// TestSystemDiskUsage checks `system df` figures against du of the data
// root, and that `system prune -a --volumes -f` removes what is unused.
func TestSystemDiskUsage(t *testing.T) {
	for _, cli := range []string{"docker", "berth"} {
		t.Run(cli, func(t *testing.T) {
			d := startDaemon(t)
			if err := d.importBusybox(); err != nil {
				t.Fatal(err)
			}
			c := d.client(t, cli)

			// Images alone: LayersSize is the snapshots plus the content.
			images := []string{filepath.Join(d.dataRoot, "snapshots", "overlayfs"), filepath.Join(d.dataRoot, "content")}
			var du legacyDF
			getDF(t, d, "/v1.50/system/df", &du)
			within5(t, "LayersSize", du.LayersSize, duBytes(t, images...))
			if len(du.Images) != 1 || du.Images[0].Size != du.LayersSize || du.Images[0].SharedSize != 0 || du.Images[0].Containers != 0 {
				t.Errorf("images: %+v, LayersSize %d", du.Images, du.LayersSize)
			}

			// A second image from the same tar shares every layer blob and snapshot.
			c.ok("tag", "busybox:latest", "keep:1")
			c.ok("volume", "create", "dfdata")
			c.ok("run", "--name", "w1", "-v", "dfdata:/data", "-v", "/anon", "busybox", "sh", "-c",
				"dd if=/dev/zero of=/data/f bs=1k count=2048 2>/dev/null; dd if=/dev/zero of=/anon/f bs=1k count=256 2>/dev/null; dd if=/dev/zero of=/big bs=1k count=1024 2>/dev/null")
			before := duBytes(t, images...)

			du = legacyDF{}
			getDF(t, d, "/v1.50/system/df?type=container&type=image&type=volume&type=build-cache", &du)
			if len(du.Containers) != 1 || du.Containers[0].State != "exited" {
				t.Fatalf("containers: %+v", du.Containers)
			}
			// Everything under snapshots/ and content/ is now images plus the writable layer.
			within5(t, "LayersSize+SizeRw", du.LayersSize+du.Containers[0].SizeRw, before)
			if rw := du.Containers[0].SizeRw; rw < 1024*1024 || rw > 1024*1024*21/20+64*1024 {
				t.Errorf("SizeRw %d, want about 1MiB", rw)
			}
			if len(du.Images) != 1 || du.Images[0].Containers != 1 {
				t.Errorf("images: %+v", du.Images)
			}
			if du.BuildCache == nil {
				t.Error("BuildCache missing: want an empty list")
			}
			vols := map[string]int64{}
			for _, v := range du.Volumes {
				if v.UsageData == nil || v.UsageData.RefCount != 1 {
					t.Errorf("volume %s: usage %+v, want one reference", v.Name, v.UsageData)
					continue
				}
				vols[v.Name] = v.UsageData.Size
				within5(t, "volume "+v.Name, v.UsageData.Size, duBytes(t, filepath.Join(d.dataRoot, "volumes", v.Name, "_data")))
			}
			if len(vols) != 2 || vols["dfdata"] < 2048*1024 {
				t.Errorf("volumes: %v", vols)
			}

			// The new (1.52+) shape carries the totals.
			var nu struct {
				ImageUsage      struct{ TotalSize, TotalCount, ActiveCount int64 }
				ContainerUsage  struct{ TotalSize, Reclaimable int64 }
				VolumeUsage     struct{ TotalSize, ActiveCount int64 }
				BuildCacheUsage *struct{ TotalSize int64 }
			}
			getDF(t, d, "/v1.56/system/df", &nu)
			if nu.ImageUsage.TotalSize != du.LayersSize || nu.ImageUsage.TotalCount != 1 || nu.ImageUsage.ActiveCount != 1 ||
				nu.ContainerUsage.TotalSize != du.Containers[0].SizeRw || nu.ContainerUsage.Reclaimable != nu.ContainerUsage.TotalSize ||
				nu.VolumeUsage.ActiveCount != 2 || nu.BuildCacheUsage == nil {
				t.Errorf("1.56 answer: %+v", nu)
			}
			if status, _, body, _ := d.api(http.MethodGet, "/system/df?type=bogus", "", nil); status != http.StatusBadRequest {
				t.Errorf("type=bogus: %d %s", status, body)
			}

			out := c.ok("system", "df")
			for _, want := range []string{"Images", "Containers", "Local Volumes", "Build Cache"} {
				if !strings.Contains(out, want) {
					t.Errorf("system df lacks %q:\n%s", want, out)
				}
			}
			if cli == "docker" {
				out = c.ok("system", "df", "-v")
				for _, want := range []string{"busybox", "w1", "dfdata", "2.097MB"} {
					if !strings.Contains(out, want) {
						t.Errorf("system df -v lacks %q:\n%s", want, out)
					}
				}
			}

			// A running container keeps its image in use.
			c.ok("run", "-d", "--name", "busy", "busybox", "sleep", "600")
			c.ok("rmi", "keep:1")

			out = c.ok("system", "prune", "-a", "--volumes", "-f")
			line := out[strings.LastIndex(out, "Total reclaimed space:"):]
			if !strings.HasPrefix(line, "Total reclaimed space:") || strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(line, "Total reclaimed space:")), "0B") {
				t.Errorf("system prune: %s", out)
			}
			if got := c.okTrim("ps", "-a", "--format", "{{.Names}}"); got != "busy" {
				t.Errorf("after prune, containers %q; want only busy", got)
			}
			if got := c.okTrim("images", "--format", "{{.Repository}}"); got != "busybox" {
				t.Errorf("after prune, images %q; want only busybox (in use)", got)
			}
			// As in Docker, system prune removes anonymous volumes only;
			// the named one goes with volume prune -a.
			if got := c.okTrim("volume", "ls", "-q"); got != "dfdata" {
				t.Errorf("after prune, volumes %q; want dfdata", got)
			}
			c.ok("volume", "prune", "-a", "-f")
			if got := c.okTrim("volume", "ls", "-q"); got != "" {
				t.Errorf("after volume prune -a, volumes %q", got)
			}

			// With the container gone, everything is reclaimable.
			c.ok("rm", "-f", "busy")
			out = c.ok("system", "prune", "-a", "--volumes", "-f")
			if !strings.Contains(out, "Total reclaimed space:") {
				t.Errorf("system prune: %s", out)
			}
			if got := c.okTrim("images", "-q"); got != "" {
				t.Errorf("after the last prune, images %q", got)
			}
			du = legacyDF{}
			getDF(t, d, "/v1.50/system/df", &du)
			if du.LayersSize != 0 || len(du.Images)+len(du.Containers)+len(du.Volumes) != 0 {
				t.Errorf("after the last prune: %+v", du)
			}
		})
	}
}
