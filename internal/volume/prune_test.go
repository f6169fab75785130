package volume

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"berth/internal/api/filters"
	"berth/internal/errdefs"
)

func TestPrune(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		doc       string
		f         filters.Args
		want      string // names deleted, sorted
		reclaimed uint64
		bad       string
	}{
		{doc: "default: unused anonymous only", f: filters.Args{}, want: "anon-free", reclaimed: 1000},
		{doc: "all", f: filters.Args{"all": {"true"}}, want: "anon-free,named-free,named-labelled", reclaimed: 1000 + 20 + 3},
		{doc: "all with label", f: filters.Args{"all": {"1"}, "label": {"keep"}}, want: "named-labelled", reclaimed: 3},
		{doc: "all without label", f: filters.Args{"all": {"true"}, "label!": {"keep"}}, want: "anon-free,named-free", reclaimed: 1020},
		{doc: "all without label value", f: filters.Args{"all": {"true"}, "label!": {"keep=no"}}, want: "anon-free,named-free,named-labelled", reclaimed: 1023},
		{doc: "bad filter", f: filters.Args{"until": {"1h"}}, bad: "invalid filter 'until'"},
		{doc: "bad all", f: filters.Args{"all": {"sure"}}, bad: "invalid filter 'all=sure'"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			r := newRig(t)
			anonFree, err := r.svc.CreateAnonymous(ctx, "gone")
			if err != nil {
				t.Fatal(err)
			}
			r.svc.Dereference(anonFree.Name, "gone")
			anonUsed, err := r.svc.CreateAnonymous(ctx, "c1")
			if err != nil {
				t.Fatal(err)
			}
			r.create("named-free", nil, nil)
			r.create("named-used", nil, nil)
			r.create("named-labelled", nil, map[string]string{"keep": "yes"})
			alias := map[string]string{anonFree.Name: "anon-free", anonUsed.Name: "anon-used"}
			if _, err := r.svc.Acquire(ctx, "named-used", "c2"); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(anonFree.Mountpoint, "big"), 1000)
			writeFile(t, filepath.Join(r.root, "named-free", "_data", "d", "f"), 20)
			writeFile(t, filepath.Join(r.root, "named-labelled", "_data", "f"), 3)

			rep, err := r.svc.Prune(ctx, tc.f)
			if tc.bad != "" {
				if !errdefs.IsInvalid(err) || !strings.HasPrefix(err.Error(), tc.bad) {
					t.Fatalf("got %v, want %q", err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range rep.VolumesDeleted {
				if a, ok := alias[n]; ok {
					n = a
				}
				got = append(got, n)
			}
			sort.Strings(got)
			if strings.Join(got, ",") != tc.want || rep.SpaceReclaimed != tc.reclaimed {
				t.Fatalf("deleted %v reclaimed %d, want %s and %d", got, rep.SpaceReclaimed, tc.want, tc.reclaimed)
			}
			left, err := r.svc.List(ctx, filters.Args{})
			if err != nil {
				t.Fatal(err)
			}
			if len(left)+len(rep.VolumesDeleted) != 5 {
				t.Fatalf("%d volumes left after deleting %d", len(left), len(rep.VolumesDeleted))
			}
			for _, n := range []string{anonUsed.Name, "named-used"} {
				if _, err := r.svc.Get(ctx, n); err != nil {
					t.Errorf("a volume in use was pruned: %v", err)
				}
			}
		})
	}
}
