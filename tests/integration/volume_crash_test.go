package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestVolumePruneKilled: berthd killed with SIGKILL in the middle of
// `volume prune -a` leaves, after a restart, every volume either whole
// (listed, inspectable, every file intact) or gone (not listed, no data
// left), never half.
func TestVolumePruneKilled(t *testing.T) {
	d := startDaemon(t)
	const volumes, files = 40, 20
	payload := bytes.Repeat([]byte("berth volume data\n"), 900) // ~16 KiB
	names := make([]string, volumes)
	for i := range names {
		names[i] = fmt.Sprintf("crashvol%02d", i)
		body := fmt.Sprintf(`{"Name":%q}`, names[i])
		if code, _, out, err := d.api(http.MethodPost, "/volumes/create", "application/json", bytes.NewReader([]byte(body))); err != nil || code != http.StatusCreated {
			t.Fatalf("create %s: %d %s %v", names[i], code, out, err)
		}
		data := filepath.Join(d.dataRoot, "volumes", names[i], "_data")
		for f := range files {
			if err := os.WriteFile(filepath.Join(data, fmt.Sprintf("f%02d", f)), payload, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Prune in the background; kill berthd as soon as the first volume's
	// data starts to go.
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		_, _, _, _ = d.api(http.MethodPost, `/volumes/prune?filters={"all":["true"]}`, "", nil)
	}()
	started := func() bool {
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(d.dataRoot, "volumes", n, "_data", "f00")); err != nil {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(20 * time.Second)
	for !started() {
		select {
		case <-pruned:
			t.Fatal("the prune ended before any volume was seen going")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the prune did not start within 20s")
		}
	}
	d.signal(t, syscall.SIGKILL)
	<-pruned
	if err := d.start(); err != nil {
		t.Fatalf("restart: %v", err)
	}

	whole, gone := 0, 0
	for _, n := range names {
		code, _, out, err := d.api(http.MethodGet, "/volumes/"+n, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(d.dataRoot, "volumes", n)
		switch code {
		case http.StatusNotFound:
			gone++
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("%s is gone from the API but %s is still there (%v)", n, dir, err)
			}
		case http.StatusOK:
			whole++
			for f := range files {
				got, err := os.ReadFile(filepath.Join(dir, "_data", fmt.Sprintf("f%02d", f)))
				if err != nil || !bytes.Equal(got, payload) {
					t.Errorf("%s is listed but its file f%02d is damaged or missing (%v)", n, f, err)
					break
				}
			}
		default:
			t.Errorf("inspect %s after the restart: %d %s", n, code, out)
		}
	}
	if gone == 0 {
		t.Errorf("no volume was removed before the kill (whole %d): the kill did not land in the prune", whole)
	}
	t.Logf("after the kill: %d volumes whole, %d gone", whole, gone)

	// What is left can still be pruned.
	if code, _, out, err := d.api(http.MethodPost, `/volumes/prune?filters={"all":["true"]}`, "", nil); err != nil || code != http.StatusOK {
		t.Fatalf("prune after the restart: %d %s %v", code, out, err)
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(d.dataRoot, "volumes", n)); !os.IsNotExist(err) {
			t.Errorf("%s still on disk after the second prune (%v)", n, err)
		}
	}
}
