package shim

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRuntimeErrorMessage reads the runtime's JSON log as runc and crun
// write it; crun's words come out as runc's, which the Docker CLI reads
// its 127 and 126 from.
func TestRuntimeErrorMessage(t *testing.T) {
	cases := map[string]string{
		`{"level":"error","msg":"runc run failed: unable to start container process: exec: \"/nope\": stat /nope: no such file or directory"}`: `runc run failed: unable to start container process: exec: "/nope": stat /nope: no such file or directory`,
		"{\"msg\":\"executable file `/nope` not found in $PATH: No such file or directory\",\"level\":\"error\"}":                              "executable file `/nope` not found in $PATH: no such file or directory",
		`{"msg":"open executable: Operation not permitted","level":"error"}`:                                                                   "open executable: permission denied",
		`{"msg":"chdir to cwd: Permission denied","level":"error"}`:                                                                            "chdir to cwd: permission denied",
		"not json at all\n": "not json at all",
	}
	for line, want := range cases {
		p := filepath.Join(t.TempDir(), "log.json")
		if err := os.WriteFile(p, []byte(line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := runtimeErrorMessage(p); got != want {
			t.Errorf("runtimeErrorMessage(%s) = %q, want %q", line, got, want)
		}
	}
}
