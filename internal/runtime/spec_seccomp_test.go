package runtime

import (
	"encoding/base64"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// Only the default profile is handed over compiled, and only when asked.
func TestPrecompileSeccomp(t *testing.T) {
	cases := []struct {
		doc        string
		precompile bool
		secOpt     []string
		privileged bool
		want       bool
	}{
		{doc: "default profile", precompile: true, want: true},
		{doc: "builtin named", precompile: true, secOpt: []string{"seccomp=builtin"}, want: true},
		{doc: "not asked (runc)", precompile: false, want: false},
		{doc: "a profile of the user's", precompile: true, secOpt: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}, want: false},
		{doc: "unconfined", precompile: true, secOpt: []string{"seccomp=unconfined"}, want: false},
		{doc: "privileged", precompile: true, privileged: true, want: false},
	}
	for _, tc := range cases {
		opts := baseOpts(t)
		opts.PrecompileSeccomp = tc.precompile
		opts.HostConfig = &container.HostConfig{SecurityOpt: tc.secOpt, Privileged: tc.privileged}
		s, err := GenerateSpec(opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.doc, err)
		}
		data, ok := s.Annotations[SeccompBPFAnnotation]
		if ok != tc.want {
			t.Errorf("%s: compiled filter present %v, want %v", tc.doc, ok, tc.want)
			continue
		}
		if !ok {
			continue
		}
		prog, err := base64.StdEncoding.DecodeString(data)
		if err != nil || len(prog) == 0 || len(prog)%8 != 0 {
			t.Errorf("%s: annotation is not a BPF program (%d bytes, %v)", tc.doc, len(prog), err)
		}
		if s.Linux.Seccomp == nil {
			t.Errorf("%s: the profile must stay in the spec for runtimes that ignore the annotation", tc.doc)
		}
	}
}
