package notary

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/tuf/data"

	"berth/internal/errdefs"
)

func openTestStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trust", "notary.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// meta returns distinct bytes for each (gun, role, version), standing in for
// signed TUF JSON.
func meta(gun data.GUN, role data.RoleName, version int) []byte {
	return fmt.Appendf(nil, `{"signed":{"_type":%q,"version":%d},"gun":%q}`, role, version, gun)
}

func update(gun data.GUN, role data.RoleName, version int) storage.MetaUpdate {
	return storage.MetaUpdate{Role: role, Version: version, Data: meta(gun, role, version)}
}

func checksum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// The handlers type-switch on these values, so a pointer or a wrapped error
// would not do.
func isOldVersion(err error) bool { _, ok := err.(storage.ErrOldVersion); return ok }
func isNotFound(err error) bool   { _, ok := err.(storage.ErrNotFound); return ok }
func isBadQuery(err error) bool   { _, ok := err.(storage.ErrBadQuery); return ok }

func mustUpdate(t *testing.T, s *Store, gun data.GUN, role data.RoleName, version int) {
	t.Helper()
	if err := s.UpdateCurrent(gun, update(gun, role, version)); err != nil {
		t.Fatalf("UpdateCurrent(%s, %s, %d): %v", gun, role, version, err)
	}
}

func wantCurrent(t *testing.T, s *Store, gun data.GUN, role data.RoleName, version int) {
	t.Helper()
	_, got, err := s.GetCurrent(gun, role)
	if err != nil {
		t.Fatalf("GetCurrent(%s, %s): %v", gun, role, err)
	}
	if want := meta(gun, role, version); string(got) != string(want) {
		t.Fatalf("GetCurrent(%s, %s) = %s, want version %d", gun, role, got, version)
	}
}

func wantAbsent(t *testing.T, s *Store, gun data.GUN, role data.RoleName) {
	t.Helper()
	if _, got, err := s.GetCurrent(gun, role); !isNotFound(err) {
		t.Fatalf("GetCurrent(%s, %s) = %q, %v; want ErrNotFound", gun, role, got, err)
	}
}

func TestStoreVersionOrdering(t *testing.T) {
	s, _ := openTestStore(t)
	const gun = data.GUN("localhost:5000/myapp")

	steps := []struct {
		doc     string
		role    data.RoleName
		version int
		old     bool // want ErrOldVersion
		current int  // current version of role afterwards
	}{
		{doc: "first version", role: data.CanonicalRootRole, version: 1, current: 1},
		{doc: "same version again", role: data.CanonicalRootRole, version: 1, old: true, current: 1},
		{doc: "a gap is allowed", role: data.CanonicalRootRole, version: 3, current: 3},
		{doc: "filling the gap is not", role: data.CanonicalRootRole, version: 2, old: true, current: 3},
		{doc: "older still", role: data.CanonicalRootRole, version: 0, old: true, current: 3},
		{doc: "other roles are independent", role: data.CanonicalTargetsRole, version: 1, current: 1},
		{doc: "255 then 256 crosses a key byte", role: data.CanonicalRootRole, version: 255, current: 255},
		{doc: "256", role: data.CanonicalRootRole, version: 256, current: 256},
		{doc: "65536", role: data.CanonicalRootRole, version: 65536, current: 65536},
		{doc: "257 is now old", role: data.CanonicalRootRole, version: 257, old: true, current: 65536},
	}
	for _, st := range steps {
		err := s.UpdateCurrent(gun, update(gun, st.role, st.version))
		switch {
		case st.old && !isOldVersion(err):
			t.Fatalf("%s: UpdateCurrent(%s v%d) = %v (%T), want storage.ErrOldVersion", st.doc, st.role, st.version, err, err)
		case !st.old && err != nil:
			t.Fatalf("%s: UpdateCurrent(%s v%d): %v", st.doc, st.role, st.version, err)
		}
		wantCurrent(t, s, gun, st.role, st.current)
	}
	wantAbsent(t, s, gun, data.CanonicalSnapshotRole)
	wantAbsent(t, s, "localhost:5000/other", data.CanonicalRootRole)

	// Negative versions sort below zero rather than above every positive one.
	mustUpdate(t, s, "neg", data.CanonicalRootRole, -5)
	mustUpdate(t, s, "neg", data.CanonicalRootRole, 0)
	wantCurrent(t, s, "neg", data.CanonicalRootRole, 0)
}

func TestStoreUpdateManyAtomic(t *testing.T) {
	s, _ := openTestStore(t)
	const gun = data.GUN("example/app")
	mustUpdate(t, s, gun, data.CanonicalRootRole, 1)
	mustUpdate(t, s, gun, data.CanonicalTargetsRole, 1)

	rejected := []struct {
		doc   string
		batch []storage.MetaUpdate
	}{
		{
			doc: "one stale entry",
			batch: []storage.MetaUpdate{
				update(gun, data.CanonicalRootRole, 2),
				update(gun, data.CanonicalTimestampRole, 1),
				update(gun, data.CanonicalTargetsRole, 1), // stale
				update(gun, data.CanonicalSnapshotRole, 1),
			},
		},
		{
			doc: "same role and version twice",
			batch: []storage.MetaUpdate{
				update(gun, data.CanonicalRootRole, 2),
				update(gun, data.CanonicalTimestampRole, 1),
				update(gun, data.CanonicalSnapshotRole, 4),
				update(gun, data.CanonicalSnapshotRole, 4),
			},
		},
	}
	for _, tc := range rejected {
		t.Run(tc.doc, func(t *testing.T) {
			if err := s.UpdateMany(gun, tc.batch); !isOldVersion(err) {
				t.Fatalf("UpdateMany = %v (%T), want storage.ErrOldVersion", err, err)
			}
			wantCurrent(t, s, gun, data.CanonicalRootRole, 1)
			wantCurrent(t, s, gun, data.CanonicalTargetsRole, 1)
			wantAbsent(t, s, gun, data.CanonicalTimestampRole)
			wantAbsent(t, s, gun, data.CanonicalSnapshotRole)
			if _, _, err := s.GetVersion(gun, data.CanonicalRootRole, 2); !isNotFound(err) {
				t.Fatalf("GetVersion(root, 2) = %v, want ErrNotFound", err)
			}
			if _, _, err := s.GetChecksum(gun, data.CanonicalRootRole, checksum(meta(gun, data.CanonicalRootRole, 2))); !isNotFound(err) {
				t.Fatalf("GetChecksum(root v2) = %v, want ErrNotFound", err)
			}
			if ch, err := s.GetChanges("0", 100, ""); err != nil || len(ch) != 0 {
				t.Fatalf("GetChanges = %v, %v; a rejected batch must record no change", ch, err)
			}
		})
	}

	// Several versions of one role in one batch, in any order, are fine.
	err := s.UpdateMany(gun, []storage.MetaUpdate{
		update(gun, data.CanonicalTimestampRole, 3),
		update(gun, data.CanonicalTimestampRole, 2),
		update(gun, data.CanonicalTargetsRole, 2),
	})
	if err != nil {
		t.Fatalf("UpdateMany: %v", err)
	}
	wantCurrent(t, s, gun, data.CanonicalTimestampRole, 3)
	wantCurrent(t, s, gun, data.CanonicalTargetsRole, 2)
	changes, err := s.GetChanges("0", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, c := range changes {
		got = append(got, c.Version)
	}
	if want := []int{3, 2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("timestamp changes recorded versions %v, want %v (batch order)", got, want)
	}
}

func TestStoreGetChecksumAndVersion(t *testing.T) {
	s, _ := openTestStore(t)
	const gun = data.GUN("example/app")
	before := time.Now().Add(-time.Second)
	for v := 1; v <= 3; v++ {
		mustUpdate(t, s, gun, data.CanonicalSnapshotRole, v)
	}
	mustUpdate(t, s, gun, data.CanonicalTargetsRole, 1)
	after := time.Now().Add(time.Second)

	snap2 := meta(gun, data.CanonicalSnapshotRole, 2)
	tests := []struct {
		doc  string
		get  func() (*time.Time, []byte, error)
		want []byte // nil: want ErrNotFound
	}{
		{"version 2", func() (*time.Time, []byte, error) { return s.GetVersion(gun, data.CanonicalSnapshotRole, 2) }, snap2},
		{"version 3", func() (*time.Time, []byte, error) { return s.GetVersion(gun, data.CanonicalSnapshotRole, 3) }, meta(gun, data.CanonicalSnapshotRole, 3)},
		{"missing version", func() (*time.Time, []byte, error) { return s.GetVersion(gun, data.CanonicalSnapshotRole, 4) }, nil},
		{"version of another role", func() (*time.Time, []byte, error) { return s.GetVersion(gun, data.CanonicalTargetsRole, 2) }, nil},
		{"version of another gun", func() (*time.Time, []byte, error) {
			return s.GetVersion("example/other", data.CanonicalSnapshotRole, 2)
		}, nil},
		{"checksum of version 2", func() (*time.Time, []byte, error) {
			return s.GetChecksum(gun, data.CanonicalSnapshotRole, checksum(snap2))
		}, snap2},
		{"checksum under the wrong role", func() (*time.Time, []byte, error) {
			return s.GetChecksum(gun, data.CanonicalTargetsRole, checksum(snap2))
		}, nil},
		{"checksum under the wrong gun", func() (*time.Time, []byte, error) {
			return s.GetChecksum("example/other", data.CanonicalSnapshotRole, checksum(snap2))
		}, nil},
		{"unknown checksum", func() (*time.Time, []byte, error) {
			return s.GetChecksum(gun, data.CanonicalSnapshotRole, strings.Repeat("0", 64))
		}, nil},
		{"name with a NUL byte", func() (*time.Time, []byte, error) {
			return s.GetVersion("example/app\x00x", data.CanonicalSnapshotRole, 2)
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			created, got, err := tc.get()
			if tc.want == nil {
				if !isNotFound(err) {
					t.Fatalf("got %q, %v (%T); want storage.ErrNotFound", got, err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tc.want) {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if created == nil || created.Before(before) || created.After(after) {
				t.Fatalf("created = %v, want between %v and %v", created, before, after)
			}
		})
	}
}

func TestStoreDeleteKeepsPrefixSharingGUNs(t *testing.T) {
	s, _ := openTestStore(t)
	guns := []data.GUN{"a/b", "a/bc", "a/b/c", "a/b\x01"}
	for _, g := range guns {
		mustUpdate(t, s, g, data.CanonicalRootRole, 1)
		mustUpdate(t, s, g, data.CanonicalTimestampRole, 1)
	}
	if err := s.Delete("a/b"); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, s, "a/b", data.CanonicalRootRole)
	wantAbsent(t, s, "a/b", data.CanonicalTimestampRole)
	ts := meta("a/b", data.CanonicalTimestampRole, 1)
	if _, _, err := s.GetChecksum("a/b", data.CanonicalTimestampRole, checksum(ts)); !isNotFound(err) {
		t.Fatalf("GetChecksum after Delete = %v, want ErrNotFound", err)
	}
	for _, g := range guns[1:] {
		wantCurrent(t, s, g, data.CanonicalRootRole, 1)
		wantCurrent(t, s, g, data.CanonicalTimestampRole, 1)
		ts := meta(g, data.CanonicalTimestampRole, 1)
		if _, _, err := s.GetChecksum(g, data.CanonicalTimestampRole, checksum(ts)); err != nil {
			t.Fatalf("GetChecksum(%q) after deleting a/b: %v", g, err)
		}
	}

	// Deleting again, or deleting an unknown gun, succeeds and records nothing.
	for _, g := range []data.GUN{"a/b", "a", "nope", "a/b\x00"} {
		if err := s.Delete(g); err != nil {
			t.Fatalf("Delete(%q): %v", g, err)
		}
	}
	changes, err := s.GetChanges("-1", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Category != "deletion" || changes[0].GUN != "a/b" {
		t.Fatalf("newest change = %+v, want one deletion of a/b", changes)
	}
	if all, _ := s.GetChanges("0", 100, ""); len(all) != len(guns)+1 {
		t.Fatalf("%d changes, want %d timestamp updates and one deletion", len(all), len(guns))
	}

	// The gun can be written afresh from version 1.
	mustUpdate(t, s, "a/b", data.CanonicalRootRole, 1)
	wantCurrent(t, s, "a/b", data.CanonicalRootRole, 1)
}

func TestStoreSurvivesReopen(t *testing.T) {
	s, path := openTestStore(t)
	const gun = data.GUN("example/app")
	mustUpdate(t, s, gun, data.CanonicalRootRole, 1)
	mustUpdate(t, s, gun, data.CanonicalTimestampRole, 1)
	mustUpdate(t, s, gun, data.CanonicalTimestampRole, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{path, 0o600}, {filepath.Dir(path), 0o700 | os.ModeDir}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s has mode %v, want %v", c.path, fi.Mode(), c.mode)
		}
	}

	s2, err := OpenStore(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s2.Close() })
	wantCurrent(t, s2, gun, data.CanonicalRootRole, 1)
	wantCurrent(t, s2, gun, data.CanonicalTimestampRole, 2)
	if err := s2.UpdateCurrent(gun, update(gun, data.CanonicalTimestampRole, 2)); !isOldVersion(err) {
		t.Fatalf("re-sending v2 after reopen = %v, want ErrOldVersion", err)
	}
	// Change IDs carry on from where they were.
	mustUpdate(t, s2, gun, data.CanonicalTimestampRole, 3)
	changes, err := s2.GetChanges("", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range changes {
		ids = append(ids, c.ID)
	}
	if want := []string{"1", "2", "3"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("change IDs %v, want %v", ids, want)
	}
}

// bbolt locks the file with flock(2), which conflicts between two open file
// descriptions even within one process, so a second Store in this test sees
// the same lock another registry process would.
func TestStoreLockedByAnotherOpen(t *testing.T) {
	s, path := openTestStore(t)
	start := time.Now()
	s2, err := OpenStore(path)
	if err == nil {
		s2.Close()
		t.Fatal("second OpenStore of a held trust store succeeded")
	}
	if want := "another registry is using the trust store at " + path; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	if !errdefs.IsUnavailable(err) {
		t.Fatalf("error %v is not classed Unavailable", err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("gave up after %v, want about a second", waited)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := OpenStore(path)
	if err != nil {
		t.Fatalf("OpenStore after the holder closed: %v", err)
	}
	s3.Close()
}

func TestStoreGetChanges(t *testing.T) {
	s, _ := openTestStore(t)
	// IDs 1..6 are timestamp updates alternating g1, g2; 7 deletes g2.
	for v := 1; v <= 3; v++ {
		mustUpdate(t, s, "g1", data.CanonicalTimestampRole, v)
		mustUpdate(t, s, "g2", data.CanonicalTimestampRole, v)
		mustUpdate(t, s, "g1", data.CanonicalSnapshotRole, v) // not a change
	}
	if err := s.Delete("g2"); err != nil {
		t.Fatal(err)
	}

	all, err := s.GetChanges("0", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 7 {
		t.Fatalf("%d changes, want 7: %+v", len(all), all)
	}
	first := all[0]
	if first.ID != "1" || first.GUN != "g1" || first.Version != 1 || first.Category != "update" ||
		first.SHA256 != checksum(meta("g1", data.CanonicalTimestampRole, 1)) || first.CreatedAt.IsZero() {
		t.Fatalf("first change = %+v", first)
	}
	if last := all[6]; last.ID != "7" || last.GUN != "g2" || last.Category != "deletion" || last.SHA256 != "" {
		t.Fatalf("last change = %+v", last)
	}

	tests := []struct {
		doc      string
		changeID string
		records  int
		filter   string
		want     []string // IDs
	}{
		{"from the start, empty ID", "", 2, "", []string{"1", "2"}},
		{"from the start, ID 0", "0", 3, "", []string{"1", "2", "3"}},
		{"after an ID", "2", 2, "", []string{"3", "4"}},
		{"page larger than the rest", "5", 10, "", []string{"6", "7"}},
		{"after the newest", "7", 10, "", []string{}},
		{"past the end", "100", 10, "", []string{}},
		{"newest, forward count", "-1", 2, "", []string{"6", "7"}},
		{"newest, backward count", "-1", -3, "", []string{"5", "6", "7"}},
		{"before an ID", "5", -2, "", []string{"3", "4"}},
		{"before an ID, short", "3", -5, "", []string{"1", "2"}},
		{"before the first", "1", -5, "", []string{}},
		{"before a future ID", "100", -2, "", []string{"6", "7"}},
		{"backward from 0 reads from the newest", "0", -1, "", []string{"7"}},
		{"zero records", "0", 0, "", []string{}},
		{"filter forward", "0", 2, "g1", []string{"1", "3"}},
		{"filter forward after an ID", "1", 10, "g1", []string{"3", "5"}},
		{"filter backward", "-1", 2, "g2", []string{"6", "7"}},
		{"filter before an ID", "6", -10, "g2", []string{"2", "4"}},
		{"filter unknown gun", "0", 10, "g3", []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			got, err := s.GetChanges(tc.changeID, tc.records, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, c := range got {
				ids = append(ids, c.ID)
				if tc.filter != "" && c.GUN != tc.filter {
					t.Errorf("change %s is for %q, filter was %q", c.ID, c.GUN, tc.filter)
				}
			}
			if !reflect.DeepEqual(ids, tc.want) {
				t.Fatalf("GetChanges(%q, %d, %q) = %v, want %v", tc.changeID, tc.records, tc.filter, ids, tc.want)
			}
		})
	}

	for _, bad := range []string{"abc", "1.5", "99999999999"} {
		if _, err := s.GetChanges(bad, 10, ""); !isBadQuery(err) {
			t.Errorf("GetChanges(%q) = %v (%T), want storage.ErrBadQuery", bad, err, err)
		}
	}
}

func TestStoreRejectsNULInNames(t *testing.T) {
	s, _ := openTestStore(t)
	err := s.UpdateCurrent("a\x00b", update("a\x00b", data.CanonicalRootRole, 1))
	if !errdefs.IsInvalid(err) {
		t.Fatalf("UpdateCurrent with a NUL in the gun = %v, want an Invalid error", err)
	}
	err = s.UpdateMany("a", []storage.MetaUpdate{update("a", "root\x00x", 1)})
	if !errdefs.IsInvalid(err) || errors.As(err, new(storage.ErrOldVersion)) {
		t.Fatalf("UpdateMany with a NUL in the role = %v, want an Invalid error", err)
	}
	wantAbsent(t, s, "a", data.CanonicalRootRole)
}
