package runtime

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSealedBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tool")
	src, err := os.ReadFile("/bin/echo")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	b := NewSealedBinary(bin)
	f, err := b.File()
	if err != nil {
		t.Fatal(err)
	}
	// Sealed as runc and crun require, or they copy themselves anyway.
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil || seals != sealedSeals {
		t.Fatalf("seals %#x (%v), want %#x", seals, err, sealedSeals)
	}
	if _, err := f.WriteAt([]byte("x"), 0); err == nil {
		t.Fatal("a sealed copy took a write")
	}
	if got := readAll(t, f); !bytes.Equal(got, src) {
		t.Fatal("the copy differs from the binary")
	}
	// It runs, through this process's descriptor, as the shim runs it.
	out, err := exec.Command(fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd()), "from", "memfd").Output()
	if err != nil || string(out) != "from memfd\n" {
		t.Fatalf("running the copy: %q, %v", out, err)
	}
	if again, _ := b.File(); again != f {
		t.Fatal("an unchanged binary was copied again")
	}
	// An upgrade on disk gets a new copy.
	src = append(src, 0)
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(bin, later, later); err != nil {
		t.Fatal(err)
	}
	g, err := b.File()
	if err != nil {
		t.Fatal(err)
	}
	if g == f || !bytes.Equal(readAll(t, g), src) {
		t.Fatal("the upgraded binary was not copied")
	}
	if _, err := NewSealedBinary(filepath.Join(dir, "missing")).File(); err == nil {
		t.Fatal("no error for a missing binary")
	}
}

func readAll(t *testing.T, f *os.File) []byte {
	t.Helper()
	data, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
