package container

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

func TestStatsArithmetic(t *testing.T) {
	cases := []struct {
		doc  string
		v    ctypes.StatsResponse
		want statsFigures
	}{
		{
			doc: "cgroup v1: total_inactive_file is not in use; CPU share scaled by online CPUs",
			v: ctypes.StatsResponse{
				Name: "/web", ID: "abc",
				CPUStats: ctypes.CPUStats{
					CPUUsage:    ctypes.CPUUsage{TotalUsage: 1_500_000_000},
					SystemUsage: 12_000_000_000, OnlineCPUs: 2,
				},
				PreCPUStats: ctypes.CPUStats{CPUUsage: ctypes.CPUUsage{TotalUsage: 1_000_000_000}, SystemUsage: 10_000_000_000},
				MemoryStats: ctypes.MemoryStats{Usage: 100 << 20, Limit: 400 << 20, Stats: map[string]uint64{"total_inactive_file": 20 << 20, "inactive_file": 1 << 20}},
				Networks:    map[string]ctypes.NetworkStats{"eth0": {RxBytes: 1000, TxBytes: 10}, "eth1": {RxBytes: 500, TxBytes: 5}},
				BlkioStats: ctypes.BlkioStats{IoServiceBytesRecursive: []ctypes.BlkioStatEntry{
					{Op: "Read", Value: 4096}, {Op: "Write", Value: 512}, {Op: "Total", Value: 4608}, {Op: "read", Value: 4}, {Op: ""},
				}},
				PidsStats: ctypes.PidsStats{Current: 7},
			},
			want: statsFigures{
				name: "/web", id: "abc", cpuPercent: 50, mem: 80 << 20, memLimit: 400 << 20, memPercent: 20,
				netRx: 1500, netTx: 15, blockRead: 4100, blkWrite: 512, pids: 7,
			},
		},
		{
			doc: "cgroup v2: inactive_file; per-CPU count when online_cpus is missing",
			v: ctypes.StatsResponse{
				CPUStats: ctypes.CPUStats{
					CPUUsage:    ctypes.CPUUsage{TotalUsage: 300, PercpuUsage: []uint64{1, 2, 3, 4}},
					SystemUsage: 1000,
				},
				PreCPUStats: ctypes.CPUStats{CPUUsage: ctypes.CPUUsage{TotalUsage: 100}, SystemUsage: 200},
				MemoryStats: ctypes.MemoryStats{Usage: 1000, Limit: 4000, Stats: map[string]uint64{"inactive_file": 200}},
			},
			want: statsFigures{cpuPercent: 100, mem: 800, memLimit: 4000, memPercent: 20},
		},
		{
			doc:  "stopped: all zero, no division by zero",
			v:    ctypes.StatsResponse{Name: "/down", ID: "def"},
			want: statsFigures{name: "/down", id: "def"},
		},
		{
			doc: "inactive file above usage is ignored",
			v: ctypes.StatsResponse{
				MemoryStats: ctypes.MemoryStats{Usage: 100, Limit: 1000, Stats: map[string]uint64{"total_inactive_file": 500}},
			},
			want: statsFigures{mem: 100, memLimit: 1000, memPercent: 10},
		},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			if got := figuresOf(&tc.v); got != tc.want {
				t.Errorf("figures =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestStatsRow(t *testing.T) {
	f := statsFigures{name: "/web", id: "0123456789abcdef0123", cpuPercent: 51.234, mem: 20.5 * (1 << 20), memLimit: 2 << 30, memPercent: 1.001, netRx: 1296, netTx: 726, blockRead: 4096000, pids: 3}
	cases := []struct {
		doc  string
		row  statsRow
		want []string // Container ID Name CPUPerc MemUsage MemPerc NetIO BlockIO PIDs
	}{
		{
			doc:  "truncated",
			row:  statsRow{container: "web", f: f, trunc: true},
			want: []string{"web", "0123456789ab", "web", "51.23%", "20.5MiB / 2GiB", "1.00%", "1.3kB / 726B", "4.1MB / 0B", "3"},
		},
		{
			doc:  "no-trunc",
			row:  statsRow{container: "0123", f: f},
			want: []string{"0123", "0123456789abcdef0123", "web", "51.23%", "20.5MiB / 2GiB", "1.00%", "1.3kB / 726B", "4.1MB / 0B", "3"},
		},
		{
			doc:  "failed sample",
			row:  statsRow{container: "gone", f: statsFigures{invalid: true}},
			want: []string{"gone", "", "--", "--", "-- / --", "--", "--", "--", "--"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			r := tc.row
			got := []string{r.Container(), r.ID(), r.Name(), r.CPUPerc(), r.MemUsage(), r.MemPerc(), r.NetIO(), r.BlockIO(), r.PIDs()}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("row =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// fakeStatsDaemon answers the list and stats calls stats makes.
func fakeStatsDaemon(t *testing.T, calls *atomic.Int32) client.APIClient {
	t.Helper()
	sample := func(id, name string, total, prevTotal uint64) ctypes.StatsResponse {
		return ctypes.StatsResponse{
			ID: id, Name: name, Read: time.Now(),
			CPUStats:    ctypes.CPUStats{CPUUsage: ctypes.CPUUsage{TotalUsage: total}, SystemUsage: 2000, OnlineCPUs: 2},
			PreCPUStats: ctypes.CPUStats{CPUUsage: ctypes.CPUUsage{TotalUsage: prevTotal}, SystemUsage: 1000},
			MemoryStats: ctypes.MemoryStats{Usage: 3 << 20, Limit: 1 << 30, Stats: map[string]uint64{"total_inactive_file": 1 << 20}},
			PidsStats:   ctypes.PidsStats{Current: 2},
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_ping", func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Api-Version", "1.50") })
	mux.HandleFunc("GET /{v}/containers/json", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode([]ctypes.Summary{{ID: "aaaa11112222333344445555", Names: []string{"/one"}}, {ID: "bbbb11112222333344445555", Names: []string{"/two"}}})
	})
	mux.HandleFunc("GET /{v}/containers/{id}/stats", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Query().Get("stream") != "false" || r.URL.Query().Get("one-shot") != "" {
			t.Errorf("stats query %q: want stream=false with the previous sample", r.URL.RawQuery)
		}
		switch id := r.PathValue("id"); id {
		case "aaaa11112222333344445555", "one":
			_ = json.NewEncoder(w).Encode(sample("aaaa11112222333344445555", "/one", 600, 100))
		case "bbbb11112222333344445555":
			_ = json.NewEncoder(w).Encode(sample(id, "/two", 100, 100))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"message":"No such container: ` + id + `"}`))
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	api, err := client.New(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithAPIVersion("1.50"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	return api
}

func TestRunStatsNoStream(t *testing.T) {
	cases := []struct {
		doc     string
		opts    statsOptions
		names   []string
		want    string
		wantErr string
		calls   int32
	}{
		{
			doc:  "all running, default table",
			opts: statsOptions{noStream: true},
			want: "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS\n" +
				"aaaa11112222   one       100.00%   2MiB / 1GiB         0.20%     0B / 0B   0B / 0B     2\n" +
				"bbbb11112222   two       0.00%     2MiB / 1GiB         0.20%     0B / 0B   0B / 0B     2\n",
			calls: 2,
		},
		{
			doc:   "named, template, no-trunc",
			opts:  statsOptions{noStream: true, noTrunc: true, format: "{{.Container}} {{.ID}} {{.CPUPerc}} {{.PIDs}}"},
			names: []string{"one"},
			want:  "one aaaa11112222333344445555 100.00% 2\n",
			calls: 1,
		},
		{
			doc:   "json",
			opts:  statsOptions{noStream: true, format: "json"},
			names: []string{"one"},
			want:  `{"BlockIO":"0B / 0B","CPUPerc":"100.00%","Container":"one","ID":"aaaa11112222","MemPerc":"0.20%","MemUsage":"2MiB / 1GiB","Name":"one","NetIO":"0B / 0B","PIDs":"2"}` + "\n",
			calls: 1,
		},
		{
			doc:     "a missing container is an error",
			opts:    statsOptions{noStream: true},
			names:   []string{"one", "nope"},
			wantErr: "No such container: nope",
			calls:   2,
		},
		{
			doc:     "a bad template fails before any request",
			opts:    statsOptions{noStream: true, format: "{{.Nope"},
			wantErr: "template",
		},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			var calls atomic.Int32
			api := fakeStatsDaemon(t, &calls)
			var out bytes.Buffer
			err := runStats(context.Background(), api, &out, &tc.opts, tc.names)
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			}
			if tc.wantErr == "" && out.String() != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tc.want)
			}
			if calls.Load() != tc.calls {
				t.Errorf("%d stats requests, want %d (one per container)", calls.Load(), tc.calls)
			}
		})
	}
}
