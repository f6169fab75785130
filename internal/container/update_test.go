package container

import (
	"testing"

	"github.com/moby/moby/api/types/container"

	"berth/internal/errdefs"
)

func TestMergeUpdate(t *testing.T) {
	const mb = 1 << 20
	cases := []struct {
		doc     string
		cur     container.HostConfig
		upd     container.HostConfig
		want    func(t *testing.T, hc container.HostConfig)
		wantErr string
	}{
		{
			doc: "memory and swap",
			cur: container.HostConfig{Resources: container.Resources{Memory: 32 * mb, MemorySwap: 64 * mb, CPUShares: 512}},
			upd: container.HostConfig{Resources: container.Resources{Memory: 64 * mb, MemorySwap: 128 * mb}},
			want: func(t *testing.T, hc container.HostConfig) {
				if hc.Memory != 64*mb || hc.MemorySwap != 128*mb || hc.CPUShares != 512 {
					t.Errorf("memory %d swap %d shares %d", hc.Memory, hc.MemorySwap, hc.CPUShares)
				}
			},
		},
		{
			doc:     "memory above the stored swap",
			cur:     container.HostConfig{Resources: container.Resources{Memory: 32 * mb, MemorySwap: 64 * mb}},
			upd:     container.HostConfig{Resources: container.Resources{Memory: 128 * mb}},
			wantErr: "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
		},
		{
			doc:     "memory on a container without limits",
			upd:     container.HostConfig{Resources: container.Resources{Memory: 64 * mb}},
			wantErr: "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
		},
		{
			doc:     "cpus after a period",
			cur:     container.HostConfig{Resources: container.Resources{CPUPeriod: 100000}},
			upd:     container.HostConfig{Resources: container.Resources{NanoCPUs: 1e9}},
			wantErr: "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
		},
		{
			doc:     "quota after cpus",
			cur:     container.HostConfig{Resources: container.Resources{NanoCPUs: 1e9}},
			upd:     container.HostConfig{Resources: container.Resources{CPUQuota: 50000}},
			wantErr: "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
		},
		{
			doc: "restart policy and pids",
			cur: container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "no"}},
			upd: container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}, Resources: container.Resources{PidsLimit: i64(0)}},
			want: func(t *testing.T, hc container.HostConfig) {
				if hc.RestartPolicy.Name != "on-failure" || hc.RestartPolicy.MaximumRetryCount != 3 || hc.PidsLimit == nil || *hc.PidsLimit != 0 {
					t.Errorf("restart %+v pids %v", hc.RestartPolicy, hc.PidsLimit)
				}
			},
		},
		{
			doc:     "restart policy of an auto-removed container",
			cur:     container.HostConfig{AutoRemove: true},
			upd:     container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "always"}},
			wantErr: "Restart policy cannot be updated because AutoRemove is enabled for the container",
		},
		{
			doc: "empty update keeps everything",
			cur: container.HostConfig{Resources: container.Resources{CpusetCpus: "1", BlkioWeight: 300}},
			want: func(t *testing.T, hc container.HostConfig) {
				if hc.CpusetCpus != "1" || hc.BlkioWeight != 300 {
					t.Errorf("cpuset %q weight %d", hc.CpusetCpus, hc.BlkioWeight)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			hc := tc.cur
			err := mergeUpdate(&hc, &tc.upd)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errdefs.IsConflict(err) {
					t.Fatalf("error %v, want conflict %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want(t, hc)
		})
	}
}
