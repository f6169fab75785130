package volume

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"berth/internal/errdefs"
)

// TestRecovery simulates a daemon killed in the middle of a removal: at
// each point, the restarted service leaves the volume whole or gone.
func TestRecovery(t *testing.T) {
	cases := []struct {
		doc   string
		crash func(t *testing.T, r *rig, name string)
	}{
		{doc: "marked, nothing deleted", crash: func(t *testing.T, r *rig, name string) {
			markRemoving(t, r, name)
		}},
		{doc: "marked, data half deleted in place", crash: func(t *testing.T, r *rig, name string) {
			markRemoving(t, r, name)
			if err := os.RemoveAll(filepath.Join(r.root, name, "_data", "a")); err != nil {
				t.Fatal(err)
			}
		}},
		{doc: "marked, renamed into the trash, half deleted", crash: func(t *testing.T, r *rig, name string) {
			markRemoving(t, r, name)
			trash := filepath.Join(r.root, trashDir, name)
			if err := os.MkdirAll(filepath.Dir(trash), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(r.root, name), trash); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(trash, "_data", "b")); err != nil {
				t.Fatal(err)
			}
		}},
		{doc: "data gone, record not yet deleted", crash: func(t *testing.T, r *rig, name string) {
			markRemoving(t, r, name)
			if err := os.RemoveAll(filepath.Join(r.root, name)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			r := newRig(t)
			name := r.create("victim", nil, nil)
			keep := r.create("bystander", nil, nil)
			for _, f := range []string{"a/1", "a/2", "b"} {
				writeFile(t, filepath.Join(r.root, name, "_data", f), 100)
			}
			writeFile(t, filepath.Join(r.root, keep, "_data", "x"), 100)
			tc.crash(t, r, name)

			r.open()
			ctx := context.Background()
			if _, err := r.svc.Get(ctx, name); !errdefs.IsNotFound(err) {
				t.Fatalf("half-removed volume is served: %v", err)
			}
			for _, p := range []string{filepath.Join(r.root, name), filepath.Join(r.root, trashDir)} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind: %v", p, err)
				}
			}
			recs, err := loadRecords(r.db)
			if err != nil {
				t.Fatal(err)
			}
			if recs[name] != nil {
				t.Errorf("record left behind: %+v", recs[name])
			}
			if _, err := os.Stat(filepath.Join(r.root, keep, "_data", "x")); err != nil {
				t.Errorf("the other volume lost data: %v", err)
			}
			// The name is free again.
			r.create(name, nil, nil)
		})
	}
}

func markRemoving(t *testing.T, r *rig, name string) {
	t.Helper()
	recs, err := loadRecords(r.db)
	if err != nil {
		t.Fatal(err)
	}
	rec := recs[name]
	rec.State = stateRemoving
	if err := putRecord(r.db, rec); err != nil {
		t.Fatal(err)
	}
}

// TestAdoptOrphan: a crash between making the directory and writing the
// record leaves a directory New adopts rather than deletes.
func TestAdoptOrphan(t *testing.T) {
	r := newRig(t)
	writeFile(t, filepath.Join(r.root, "orphan", "_data", "keep"), 5)
	r.open()
	v, err := r.svc.Get(context.Background(), "orphan")
	if err != nil {
		t.Fatal(err)
	}
	if v.Driver != "local" || v.CreatedAt == "" {
		t.Fatalf("adopted %+v", v)
	}
	if size, refs := r.svc.Usage(context.Background(), "orphan"); size != 5 || refs != 0 {
		t.Fatalf("usage %d %d", size, refs)
	}
}
