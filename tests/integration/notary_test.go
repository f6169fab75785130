package integration

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerContentTrust drives the real Docker CLI's DOCKER_CONTENT_TRUST
// (Notary v1) against berthd and a berth-registry with TLS and htpasswd,
// whose own address answers as the trust server, as the CLI expects of a
// private registry: a signed push, a trusted pull and run, refusal of an
// unsigned tag, a tag moved to another image (the signed image is what
// comes back), `trust inspect`, signing again after the registry restarted
// (the server's timestamp key and the metadata persist), `trust revoke`,
// and `trust key generate`, `trust signer add` and `trust sign`.
func TestDockerContentTrust(t *testing.T) {
	d := sharedDaemon(t)
	c := d.client(t, "docker")
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	makeCerts(t, certs, "127.0.0.1", "localhost")
	const user, password = "signer", "trust-me-passw0rd"
	htpasswd := filepath.Join(dir, "htpasswd")
	writeHtpasswd(t, htpasswd, user, password)
	opts := registryOptions{certDir: certs, htpasswd: htpasswd}
	reg := startRegistryProcWith(t, binary(t, "berth-registry"), opts)

	cfg := t.TempDir()
	plain := []string{"DOCKER_CONFIG=" + cfg, "DOCKER_CONTENT_TRUST=0"}
	trusted := []string{"DOCKER_CONFIG=" + cfg, "DOCKER_CONTENT_TRUST=1",
		"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE=root-passphrase",
		"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=repo-passphrase"}
	run := func(env []string, args ...string) result {
		t.Helper()
		return c.runWith(nil, env, args...)
	}
	mustRun := func(env []string, args ...string) string {
		t.Helper()
		r := run(env, args...)
		if r.code != 0 {
			t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
		}
		return r.stdout
	}
	mustRun(plain, "login", "-u", user, "-p", password, reg.addr)

	repo := reg.addr + "/trust/" + c.uniqueName("app")
	signed := repo + ":signed"
	importImage(t, d, signed)
	out := mustRun(trusted, "push", signed)
	if !strings.Contains(out, "Successfully signed "+signed) {
		t.Fatalf("signed push printed no signature:\n%s", out)
	}
	signedDigest := pushed(t, out)
	signedID := c.okTrim("image", "inspect", "-f", "{{.Id}}", signed)

	// trust inspect shows the signed tag and its digest.
	var inspected []struct {
		SignedTags []struct {
			SignedTag string
			Digest    string
		}
	}
	if err := json.Unmarshal([]byte(mustRun(trusted, "trust", "inspect", signed)), &inspected); err != nil {
		t.Fatalf("trust inspect: %v", err)
	}
	if len(inspected) != 1 || len(inspected[0].SignedTags) != 1 || inspected[0].SignedTags[0].SignedTag != "signed" ||
		inspected[0].SignedTags[0].Digest != signedDigest.Encoded() {
		t.Fatalf("trust inspect %s: %+v, want tag signed at %s", signed, inspected, signedDigest)
	}

	// A trusted pull resolves the tag through the signed targets.
	c.ok("rmi", signed)
	out = mustRun(trusted, "pull", signed)
	if !strings.Contains(out, signedDigest.String()) {
		t.Fatalf("trusted pull did not pull the signed digest %s:\n%s", signedDigest, out)
	}
	if r := run(trusted, "run", "--rm", signed, "echo", "trusted run"); r.code != 0 || strings.TrimSpace(r.stdout) != "trusted run" {
		t.Fatalf("trusted run: %s", r)
	}

	// An unsigned tag is refused.
	unsigned := repo + ":unsigned"
	importImage(t, d, unsigned)
	mustRun(plain, "push", unsigned)
	c.ok("rmi", unsigned)
	for _, args := range [][]string{{"pull", unsigned}, {"run", "--rm", unsigned, "true"}} {
		r := run(trusted, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "No valid trust data for unsigned") {
			t.Errorf("trusted %s of an unsigned tag: want Docker's refusal, got %s", args[0], r)
		}
	}
	if r := run(plain, "image", "inspect", unsigned); r.code == 0 {
		t.Errorf("a refused pull left %s behind", unsigned)
	}

	// The tag moved to another image without a signature: a trusted pull
	// still gets the signed image, never the new one.
	other := reg.addr + "/trust/other:v1"
	importImage(t, d, other)
	c.ok("tag", other, signed)
	movedDigest := pushed(t, mustRun(plain, "push", signed))
	if movedDigest == signedDigest {
		t.Fatalf("re-tagged push kept digest %s", movedDigest)
	}
	c.ok("rmi", signed)
	out = mustRun(trusted, "pull", signed)
	if strings.Contains(out, movedDigest.String()) || !strings.Contains(out, signedDigest.String()) {
		t.Fatalf("trusted pull after the tag moved: want %s, not %s:\n%s", signedDigest, movedDigest, out)
	}
	if id := c.okTrim("image", "inspect", "-f", "{{.Id}}", signed); id != signedID {
		t.Fatalf("%s is %s after a trusted pull, want the signed image %s", signed, id, signedID)
	}

	// After a registry restart the server still signs timestamps with the
	// key the repository's root names: a second signed push works and both
	// tags verify.
	reg.stop()
	reg = startRegistryProcWith(t, binary(t, "berth-registry"), registryOptions{certDir: certs, htpasswd: htpasswd, after: reg})
	v2 := repo + ":v2"
	c.ok("tag", signedID, v2)
	rmiAtEnd(t, d, v2)
	if out := mustRun(trusted, "push", v2); !strings.Contains(out, "Successfully signed "+v2) {
		t.Fatalf("signed push after a registry restart:\n%s", out)
	}
	out = mustRun(trusted, "trust", "inspect", "--pretty", repo)
	for _, tag := range []string{"signed", "v2"} {
		if !strings.Contains(out, tag) {
			t.Errorf("trust inspect --pretty %s lists no %q:\n%s", repo, tag, out)
		}
	}

	// A revoked signature is refused like a missing one.
	mustRun(trusted, "trust", "revoke", "--yes", signed)
	c.ok("rmi", signed)
	if r := run(trusted, "pull", signed); r.code == 0 {
		t.Errorf("trusted pull of a revoked tag succeeded: %s", r)
	}

	// A signer's key, made locally and added as a delegation, signs the tag
	// again; the trusted pull works and inspect names the signer.
	keys := t.TempDir()
	if out := mustRun(trusted, "trust", "key", "generate", "alice", "--dir", keys); !strings.Contains(out, "alice.pub") {
		t.Fatalf("trust key generate printed no public key file:\n%s", out)
	}
	mustRun(trusted, "trust", "signer", "add", "--key", filepath.Join(keys, "alice.pub"), "alice", repo)
	c.ok("tag", signedID, signed)
	if out := mustRun(trusted, "trust", "sign", signed); !strings.Contains(out, "Successfully signed "+signed) {
		t.Fatalf("trust sign:\n%s", out)
	}
	c.ok("rmi", signed)
	mustRun(trusted, "pull", signed)
	if out := mustRun(trusted, "trust", "inspect", "--pretty", signed); !strings.Contains(out, "alice") {
		t.Errorf("trust inspect --pretty after alice signed names no alice:\n%s", out)
	}
}
