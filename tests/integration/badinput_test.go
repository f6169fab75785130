package integration

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMalformedJSONIs400(t *testing.T) {
	d := sharedDaemon(t)
	cases := []struct{ path, body string }{
		{"/containers/create", `{"Image": "busybox", "Cmd": [`},
		{"/v1.41/containers/create", `{"Image": "busybox", "Cmd": [}`},
		{"/v1.41/containers/create", `{"Image": busybox}`},
	}
	for _, tc := range cases {
		path := tc.path
		status, header, body, err := d.api(http.MethodPost, path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusBadRequest {
			t.Errorf("POST %s with malformed JSON %s: status %d, want 400; body %s", path, tc.body, status, body)
		}
		if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("POST %s: Content-Type %q, want application/json", path, ct)
		}
		var msg struct{ Message string }
		if err := json.Unmarshal(body, &msg); err != nil || msg.Message == "" {
			t.Errorf("POST %s: body %q is not {\"message\": ...}: %v", path, body, err)
		}
	}
}

func TestUnknownContainer(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		cases := []struct {
			args []string
			msg  string
		}{
			{[]string{"container", "inspect", "nope"}, "No such container: nope"},
			{[]string{"inspect", "nope"}, "No such object: nope"},
			{[]string{"rm", "nope"}, "No such container: nope"},
			{[]string{"stop", "nope"}, "No such container: nope"},
			{[]string{"logs", "nope"}, "No such container: nope"},
			{[]string{"kill", "nope"}, "No such container: nope"},
		}
		for _, tc := range cases {
			r := c.run(tc.args...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("%s %s: want exit 1 and %q on stderr, got %s", c.name, strings.Join(tc.args, " "), tc.msg, r)
			}
		}
	})
	status, _, body, err := d.api(http.MethodGet, "/containers/nope/json", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var msg struct{ Message string }
	_ = json.Unmarshal(body, &msg)
	if status != http.StatusNotFound || msg.Message != "No such container: nope" {
		t.Errorf("GET /containers/nope/json: %d %s, want 404 No such container: nope", status, body)
	}
}

func TestInvalidContainerName(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		before := containerSet(c)
		r := c.expectExit(125, "run", "--name", "bad name!", "busybox", "true")
		if !strings.Contains(r.stderr, "Invalid container name (bad name!)") {
			t.Errorf("stderr %q lacks Invalid container name (bad name!)", r.stderr)
		}
		if after := containerSet(c); after != before {
			t.Errorf("a container was left behind:\nbefore: %s\nafter:  %s", before, after)
		}
	})
}

func TestDuplicateContainerName(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		name := c.uniqueName("dup")
		id := c.okTrim("create", "--name", name, "busybox", "true")
		want := `Conflict. The container name "/` + name + `" is already in use by container "` + id + `"`

		before := containerSet(c)
		r := c.expectExit(125, "run", "--name", name, "busybox", "true")
		if !strings.Contains(r.stderr, want) {
			t.Errorf("run with a taken name: stderr %q, want %q", r.stderr, want)
		}
		if after := containerSet(c); after != before {
			t.Errorf("a container was left behind:\nbefore: %s\nafter:  %s", before, after)
		}

		status, _, body, err := d.api(http.MethodPost, "/containers/create?name="+url.QueryEscape(name), "application/json", strings.NewReader(`{"Image":"busybox","Cmd":["true"]}`))
		if err != nil {
			t.Fatal(err)
		}
		var msg struct{ Message string }
		_ = json.Unmarshal(body, &msg)
		if status != http.StatusConflict || !strings.HasPrefix(msg.Message, want) {
			t.Errorf("POST /containers/create with a taken name: %d %s, want 409 %s", status, body, want)
		}
	})
}

// TestCreateRefusesBadConfig: what dockerd refuses at create, with its
// words, through both CLIs (exit 125) and the API (400), leaving nothing.
func TestCreateRefusesBadConfig(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		before := containerSet(c)
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"-w", "rel", "busybox", "pwd"}, "the working directory 'rel' is invalid, it needs to be an absolute path"},
			{[]string{"--stop-signal", "NOPE", "busybox", "true"}, "Invalid signal: NOPE"},
			{[]string{"--cap-add", "NOPE", "busybox", "true"}, `invalid CapAdd: unknown capability: "CAP_NOPE"`},
			{[]string{"--cap-drop", "nope", "busybox", "true"}, `invalid CapDrop: unknown capability: "CAP_NOPE"`},
			{[]string{"--link", "it-nonexistent:db", "busybox", "true"}, "could not get container for it-nonexistent: No such container: it-nonexistent"},
			{[]string{"--log-driver", "bogus", "busybox", "true"}, `error looking up logging plugin bogus: plugin "bogus" not found`},
			{[]string{"--log-opt", "bogus=1", "busybox", "true"}, "unknown log opt 'bogus' for json-file log driver"},
			{[]string{"--log-opt", "max-size=bogus", "busybox", "true"}, "failed to initialize logging driver: invalid size: 'bogus'"},
			{[]string{"--tmpfs", "rel", "busybox", "true"}, "Error response from daemon: invalid mount path: 'rel' mount path must be absolute"},
		} {
			r := c.expectExit(125, append([]string{"run", "--rm"}, tc.args...)...)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("run %s: want %q in %s", strings.Join(tc.args, " "), tc.want, r)
			}
		}
		if r := c.expectExit(1, "create", "--cap-add", "NOPE", "busybox", "true"); !strings.Contains(r.stderr, "invalid CapAdd") {
			t.Errorf("create --cap-add NOPE: want invalid CapAdd in %s", r)
		}
		if after := containerSet(c); after != before {
			t.Errorf("a refused run left a container:\nbefore: %s\nafter:  %s", before, after)
		}
	})
	for _, tc := range []struct{ body, want string }{
		{`{"Image":"busybox","Cmd":["true"],"Healthcheck":{"Test":["CMD","true"],"Interval":1000}}`, "Interval in Healthcheck cannot be less than 1ms"},
		{`{"Image":"busybox","Cmd":["true"],"Healthcheck":{"Test":["CMD","true"],"Retries":-1}}`, "Retries in Healthcheck cannot be negative"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}}`, "invalid restart policy: maximum retry count can only be used with 'on-failure'"},
		{`{"Image":"busybox","Cmd":["true"],"HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}`, "invalid restart policy: unknown policy 'sometimes'"},
	} {
		status, _, body, err := d.api(http.MethodPost, "/containers/create", "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
			t.Errorf("POST /containers/create %s: %d %s, want 400 with %q", tc.body, status, body, tc.want)
		}
	}
}

// escapeTarget is a directory outside every root that a malicious archive
// tries to write into; the test fails if anything appears in it.
func escapeTarget(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "btescape")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestLoadRejectsBadArchives(t *testing.T) {
	d := sharedDaemon(t)
	eachClient(t, d, func(t *testing.T, c *client) {
		target := escapeTarget(t)
		climb := strings.Repeat("../", 20) + strings.TrimPrefix(target, "/")
		big := make([]byte, 512*1024)
		if _, err := rand.Read(big); err != nil {
			t.Fatal(err)
		}
		truncated := imageArchive("it-bad-truncated:"+c.name, []entry{file("ok.txt", "ok"), rawFile("big.bin", big)}, nil)
		truncated = truncated[:len(truncated)*6/10]

		cases := []struct {
			doc     string
			ref     string
			archive []byte
			// contained: Docker loads such an archive, keeping the entry
			// inside its root (dockerd extracts in a chroot), so either a
			// clean refusal or a load that wrote nothing outside is right.
			contained bool
		}{
			{"outer ../evil entry", "it-bad-outer-dotdot:" + c.name,
				imageArchive("it-bad-outer-dotdot:"+c.name, []entry{file("ok.txt", "ok")}, []entry{file("../evil", "evil"), file(climb+"/evil", "evil")}), true},
			{"layer ../evil entry", "it-bad-layer-dotdot:" + c.name,
				imageArchive("it-bad-layer-dotdot:"+c.name, []entry{file("ok.txt", "ok"), file("../evil", "evil"), file(climb+"/evil", "evil")}, nil), true},
			{"outer symlink escaping, then a file through it", "it-bad-outer-link:" + c.name,
				imageArchive("it-bad-outer-link:"+c.name, []entry{file("ok.txt", "ok")}, []entry{symlink("escape", climb), file("escape/pwned", "pwned")}), false},
			{"layer symlink escaping, then a file through it", "it-bad-layer-link:" + c.name,
				imageArchive("it-bad-layer-link:"+c.name, []entry{file("ok.txt", "ok"), symlink("escape", climb), file("escape/pwned", "pwned")}, nil), false},
			{"truncated archive", "it-bad-truncated:" + c.name, truncated, false},
		}
		for _, tc := range cases {
			beforePs, beforeImages := containerSet(c), imageSet(c)
			path := filepath.Join(t.TempDir(), "bad.tar")
			if err := os.WriteFile(path, tc.archive, 0o644); err != nil {
				t.Fatal(err)
			}
			r := c.run("load", "-i", path)
			if left, _ := os.ReadDir(target); len(left) > 0 {
				t.Errorf("%s: the archive wrote outside the daemon's roots: %v in %s", tc.doc, left, target)
			}
			if r.code == 0 && tc.contained {
				if !strings.Contains(r.stdout, "Loaded image: "+tc.ref) || imageID(c, tc.ref) == "" {
					t.Errorf("%s: load -i succeeded without loading %s: %s", tc.doc, tc.ref, r)
				}
				c.run("rmi", tc.ref)
				continue
			}
			if r.code == 0 || strings.TrimSpace(r.stderr) == "" {
				t.Errorf("%s: load -i: want a non-zero exit and an error message, got %s", tc.doc, r)
			}
			if after := imageSet(c); after != beforeImages {
				t.Errorf("%s: images changed:\nbefore: %s\nafter:  %s", tc.doc, beforeImages, after)
			}
			if after := containerSet(c); after != beforePs {
				t.Errorf("%s: ps -a changed:\nbefore: %s\nafter:  %s", tc.doc, beforePs, after)
			}
		}
	})
}
