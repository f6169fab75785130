package container

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParsePSOutput(t *testing.T) {
	ef := "UID          PID    PPID  C STIME TTY          TIME CMD\n" +
		"root           1       0  0 10:00 ?        00:00:01 /sbin/init\n" +
		"root         100      90  0 10:01 ?        00:00:00 sleep 1000\n" +
		"root         101     100  0 10:01 ?        00:00:00 sh -c echo  two  spaces\n"
	threads := "USER PID TID CMD\n" +
		"root 100 - sleep\n" +
		"root - 100 -\n" +
		"root 7 - other\n" +
		"root - 7 -\n"
	cases := []struct {
		doc     string
		out     string
		pids    []int
		titles  []string
		procs   [][]string
		wantErr string
	}{
		{
			doc: "only the container's lines, command arguments joined", out: ef, pids: []int{100, 101},
			titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"},
			procs: [][]string{
				{"root", "100", "90", "0", "10:01", "?", "00:00:00", "sleep 1000"},
				{"root", "101", "100", "0", "10:01", "?", "00:00:00", "sh -c echo two spaces"},
			},
		},
		{
			doc: "thread lines follow their process", out: threads, pids: []int{100},
			titles: []string{"USER", "PID", "TID", "CMD"},
			procs:  [][]string{{"root", "100", "-", "sleep"}, {"root", "-", "100", "-"}},
		},
		{doc: "no process", out: ef, pids: nil, titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}, procs: [][]string{}},
		{doc: "no PID column", out: "USER CMD\nroot sleep\n", wantErr: "Couldn't find PID field in ps output"},
		{doc: "PID not a number", out: "PID CMD\nx sleep\n", wantErr: "Unexpected pid 'x'"},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			top, err := parsePSOutput([]byte(tc.out), tc.pids)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(top.Titles, tc.titles) || !reflect.DeepEqual(top.Processes, tc.procs) {
				t.Errorf("got %q %q\nwant %q %q", top.Titles, top.Processes, tc.titles, tc.procs)
			}
		})
	}
}

func TestValidatePSArgs(t *testing.T) {
	cases := map[string]string{
		"-ef":                       "",
		"aux":                       "",
		"-o pid=PID,comm":           "",
		"-o uid=PID":                `specifying "uid=PID" is not allowed`,
		"-o user,uid=PID":           `specifying "user,uid=PID" is not allowed`, // dockerd's wording too
		"-o user,pid=,cmd=PIDCOUNT": `specifying "user,pid=,cmd=PIDCOUNT" is not allowed`,
	}
	for args, want := range cases {
		err := validatePSArgs(" " + args)
		if (err == nil) != (want == "") || (err != nil && err.Error() != want) {
			t.Errorf("validatePSArgs(%q) = %v, want %q", args, err, want)
		}
	}
}

// TestRunPS runs the host's ps on this test's own process.
func TestRunPS(t *testing.T) {
	if _, err := os.Stat("/usr/bin/ps"); err != nil {
		t.Skip("needs ps (procps)")
	}
	pid := os.Getpid()
	out, err := runPS(context.Background(), []string{"-o", "pid,comm"}, []int{pid})
	if err != nil {
		t.Fatal(err)
	}
	top, err := parsePSOutput(out, []int{pid})
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Processes) != 1 || top.Processes[0][0] != strconv.Itoa(pid) {
		t.Errorf("processes %q, want only %d", top.Processes, pid)
	}
	// ps's own complaint comes back.
	_, err = runPS(context.Background(), []string{"--bogus"}, []int{pid})
	if err == nil || !strings.HasPrefix(err.Error(), "ps: ") || !strings.Contains(err.Error(), "option") {
		t.Errorf("bad option: %v", err)
	}
}

func TestCgroupPids(t *testing.T) {
	write := func(t *testing.T, p, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		doc   string
		v2    bool
		files map[string]string
		want  []int
	}{
		{doc: "v2", v2: true, files: map[string]string{"berth/c1/cgroup.procs": "12\n10\n"}, want: []int{10, 12}},
		{doc: "v2 with child cgroups", v2: true, files: map[string]string{"berth/c1/cgroup.procs": "10\n", "berth/c1/sub/cgroup.procs": "11\n"}, want: []int{10, 11}},
		{doc: "v1 pids controller", files: map[string]string{"pids/berth/c1/cgroup.procs": "5\n", "memory/berth/c1/cgroup.procs": "6\n"}, want: []int{5}},
		{doc: "v1 without pids controller", files: map[string]string{"memory/berth/c1/cgroup.procs": "6\n7\n"}, want: []int{6, 7}},
	}
	for _, tc := range cases {
		t.Run(tc.doc, func(t *testing.T) {
			root := t.TempDir()
			for p, body := range tc.files {
				write(t, filepath.Join(root, p), body)
			}
			got, err := cgroupPids(root, tc.v2, "/berth/c1")
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("cgroupPids = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if _, err := cgroupPids(t.TempDir(), false, "/berth/none"); err == nil {
		t.Error("a missing cgroup gave no error")
	}
}
