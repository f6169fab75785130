package container

import "testing"

func TestRuntimeMessage(t *testing.T) {
	cases := []struct{ doc, out, want string }{
		{doc: "runc log line", out: `time="2026-01-01T00:00:00Z" level=error msg="container not running"` + "\n", want: "container not running"},
		{doc: "quoted quotes", out: `level=error msg="cannot \"pause\": frozen"`, want: `cannot "pause": frozen`},
		{doc: "crun plain text", out: "some warning\ncrun: container `x` does not exist\n", want: "crun: container `x` does not exist"},
		{doc: "nothing", out: "  \n", want: ""},
	}
	for _, tc := range cases {
		if got := runtimeMessage([]byte(tc.out)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.doc, got, tc.want)
		}
	}
}
