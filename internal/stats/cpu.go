package stats

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/moby/moby/api/types/container"
)

// ReadCPU fills only what a later sample needs of this one as its previous
// sample: the container's total CPU time and the host's CPU time and CPU
// count. It is the cheap read made between requests, one file of the
// cgroup and /proc/stat. ErrNotRunning means the cgroup is gone.
func (r *Reader) ReadCPU(cs *container.CPUStats) error {
	if r.h.v2 {
		b, err := r.readFile(fCPUStat)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %v", ErrNotRunning, err)
		}
		if err != nil {
			return err
		}
		eachLine(b, func(line []byte) {
			if k, v, ok := keyValue(line); ok && string(k) == "usage_usec" {
				cs.CPUUsage.TotalUsage = v * 1000
			}
		})
	} else {
		usage, err := r.readFile(fCPUUsage)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %v", ErrNotRunning, err)
		}
		if err != nil {
			return err
		}
		var ok bool
		if cs.CPUUsage.TotalUsage, ok = parseUint(trimSpace(usage)); !ok {
			return fmt.Errorf("%s: not a number: %q", r.paths[fCPUUsage], usage)
		}
	}
	return r.readSystemCPU(cs)
}
