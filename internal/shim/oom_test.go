package shim

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOOMKilled(t *testing.T) {
	const group = "/berth/abc"
	cases := []struct {
		doc   string
		files map[string]string // relative to the cgroup root
		path  string
		want  bool
	}{
		{
			doc:   "cgroup v1, killed",
			files: map[string]string{"memory/berth/abc/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"},
			path:  group, want: true,
		},
		{
			doc:   "cgroup v1, not killed",
			files: map[string]string{"memory/berth/abc/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"},
			path:  group, want: false,
		},
		{
			doc:   "cgroup v2, killed",
			files: map[string]string{"berth/abc/memory.events": "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n"},
			path:  group, want: true,
		},
		{
			doc:   "cgroup v2, not killed",
			files: map[string]string{"berth/abc/memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"},
			path:  group, want: false,
		},
		{
			doc:   "v1 kernel without the counter: v2 file is not consulted for another group",
			files: map[string]string{"memory/berth/abc/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n"},
			path:  group, want: false,
		},
		{doc: "no cgroup at all", path: group, want: false},
		{
			doc:   "no cgroup path configured",
			files: map[string]string{"memory/memory.oom_control": "oom_kill 3\n"},
			path:  "", want: false,
		},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			root := t.TempDir()
			for name, body := range tc.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := oomKilled(root, tc.path); got != tc.want {
				t.Errorf("oomKilled = %v, want %v", got, tc.want)
			}
		})
	}
}
