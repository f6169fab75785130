package runtime

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"berth/internal/seccompbpf"
)

// SeccompBPFAnnotation hands crun a seccomp filter compiled beforehand; crun
// then loads it instead of compiling the profile in the spec itself.
const SeccompBPFAnnotation = "run.oci.seccomp_bpf_data"

// compiledFilters keeps the compiled program of each profile met, by the
// profile's digest: a few distinct profiles (one per capability set) cover
// every container.
var compiledFilters = struct {
	sync.Mutex
	m map[[32]byte]string // "" when the profile is left to the runtime
}{m: map[[32]byte]string{}}

// maxCompiledFilters bounds that cache; it starts over when full.
const maxCompiledFilters = 64

// precompileSeccomp puts p's compiled program in the spec's annotations,
// unless the compiler leaves p to the runtime.
func precompileSeccomp(s *specs.Spec) error {
	key, err := json.Marshal(s.Linux.Seccomp)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(key)
	compiledFilters.Lock()
	data, ok := compiledFilters.m[sum]
	compiledFilters.Unlock()
	if !ok {
		prog, err := seccompbpf.Compile(s.Linux.Seccomp)
		switch {
		case errors.Is(err, seccompbpf.ErrUnsupported):
		case err != nil:
			return err
		default:
			data = base64.StdEncoding.EncodeToString(prog)
		}
		compiledFilters.Lock()
		if len(compiledFilters.m) >= maxCompiledFilters {
			clear(compiledFilters.m)
		}
		compiledFilters.m[sum] = data
		compiledFilters.Unlock()
	}
	if data != "" {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[SeccompBPFAnnotation] = data
	}
	return nil
}
