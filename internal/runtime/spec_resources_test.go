package runtime

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestContainerResources(t *testing.T) {
	const mb = 1 << 20
	cases := []struct {
		doc   string
		in    container.Resources
		check func(t *testing.T, r *specs.LinuxResources)
	}{
		{
			doc: "the seed's example",
			in:  container.Resources{Memory: 1024 * mb, MemoryReservation: 750 * mb, MemorySwap: 1536 * mb, NanoCPUs: 1.5e9, CpusetCpus: "0,1", CPUShares: 512},
			check: func(t *testing.T, r *specs.LinuxResources) {
				m, c := r.Memory, r.CPU
				if *m.Limit != 1024*mb || *m.Reservation != 750*mb || *m.Swap != 1536*mb {
					t.Errorf("memory %d reservation %d swap %d", *m.Limit, *m.Reservation, *m.Swap)
				}
				if *c.Quota != 150000 || *c.Period != 100000 || *c.Shares != 512 || c.Cpus != "0,1" {
					t.Errorf("cpu quota %d period %d shares %d cpus %q", *c.Quota, *c.Period, *c.Shares, c.Cpus)
				}
			},
		},
		{
			doc: "unlimited swap is not written",
			in:  container.Resources{Memory: 64 * mb, MemorySwap: -1},
			check: func(t *testing.T, r *specs.LinuxResources) {
				if r.Memory.Swap != nil {
					t.Errorf("swap %d written", *r.Memory.Swap)
				}
			},
		},
		{
			doc: "pids: 0 and negatives are unlimited",
			in:  container.Resources{PidsLimit: ptr(int64(0))},
			check: func(t *testing.T, r *specs.LinuxResources) {
				if r.Pids == nil || *r.Pids.Limit != -1 {
					t.Errorf("pids %+v, want -1", r.Pids)
				}
			},
		},
		{
			doc: "block I/O limits name the device by its numbers",
			in: container.Resources{
				BlkioWeight:          300,
				BlkioDeviceReadBps:   []*blkiodev.ThrottleDevice{{Path: "/dev/null", Rate: mb}},
				BlkioDeviceWriteIOps: []*blkiodev.ThrottleDevice{{Path: "/dev/zero", Rate: 100}},
				BlkioWeightDevice:    []*blkiodev.WeightDevice{{Path: "/dev/null", Weight: 200}},
			},
			check: func(t *testing.T, r *specs.LinuxResources) {
				b := r.BlockIO
				if b == nil || *b.Weight != 300 {
					t.Fatalf("block I/O %+v", b)
				}
				if len(b.ThrottleReadBpsDevice) != 1 || b.ThrottleReadBpsDevice[0].Major != 1 || b.ThrottleReadBpsDevice[0].Minor != 3 || b.ThrottleReadBpsDevice[0].Rate != mb {
					t.Errorf("read bps %+v, want 1:3 1048576", b.ThrottleReadBpsDevice)
				}
				if len(b.ThrottleWriteIOPSDevice) != 1 || b.ThrottleWriteIOPSDevice[0].Minor != 5 || b.ThrottleWriteIOPSDevice[0].Rate != 100 {
					t.Errorf("write iops %+v, want 1:5 100", b.ThrottleWriteIOPSDevice)
				}
				if len(b.WeightDevice) != 1 || *b.WeightDevice[0].Weight != 200 {
					t.Errorf("weight devices %+v", b.WeightDevice)
				}
			},
		},
		{
			doc: "nothing asked, nothing set",
			check: func(t *testing.T, r *specs.LinuxResources) {
				if r.Memory != nil || r.CPU != nil || r.Pids != nil || r.BlockIO != nil {
					t.Errorf("resources %+v, want none", r)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			r, err := containerResources(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

func TestContainerResourcesMissingDevice(t *testing.T) {
	_, err := containerResources(container.Resources{BlkioDeviceReadBps: []*blkiodev.ThrottleDevice{{Path: "/dev/no-such-disk", Rate: 1}}})
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "stat /dev/no-such-disk: no such file or directory" {
		t.Fatalf("error %v, want dockerd's stat error", err)
	}
}
