package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Content trust with the berth CLI: cosign-format signatures stored in the
// registry next to the image. The Docker CLI implements
// DOCKER_CONTENT_TRUST with Notary v1 instead and never reads cosign
// signatures, so these tests drive only the berth CLI; notary_test.go
// drives the Docker CLI against berth-registry's Notary service. The
// registry is the suite's berth-registry on 127.0.0.1.

// trustEnv is a private CLI config directory (keys under its trust/)
// and the passphrase for every key the test makes.
type trustEnv struct {
	config string
	dir    string // where `trust key generate` writes NAME.pub
}

func newTrustEnv(t *testing.T) trustEnv {
	dir := t.TempDir()
	return trustEnv{config: filepath.Join(dir, "config"), dir: dir}
}

// env is the environment of one invocation; trust says whether
// DOCKER_CONTENT_TRUST=1 is set.
func (e trustEnv) env(trust bool) []string {
	env := []string{
		"DOCKER_CONFIG=" + e.config,
		"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=correct horse battery",
	}
	if trust {
		env = append(env, "DOCKER_CONTENT_TRUST=1")
	}
	return env
}

// trustRun runs berth with e's environment.
func trustRun(c *client, e trustEnv, trust bool, args ...string) result {
	c.t.Helper()
	return c.runWith(nil, e.env(trust), args...)
}

// trustOK is trustRun that fails the test unless berth exits 0.
func trustOK(c *client, e trustEnv, trust bool, args ...string) result {
	c.t.Helper()
	r := trustRun(c, e, trust, args...)
	if r.code != 0 {
		c.t.Fatalf("berth %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// trustRefused fails the test unless berth exits non-zero and says want.
func trustRefused(c *client, e trustEnv, want string, args ...string) {
	c.t.Helper()
	r := trustRun(c, e, true, args...)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		c.t.Fatalf("berth %s: want a refusal saying %q, got %s", strings.Join(args, " "), want, r)
	}
}

type trustInspect []struct {
	Name       string
	SignedTags []struct {
		SignedTag string
		Digest    string
		Signers   []string
	}
	Signers []struct {
		Name string
		Keys []struct{ ID string }
	}
}

func inspectTrust(c *client, e trustEnv, ref string) trustInspect {
	c.t.Helper()
	out := trustOK(c, e, false, "trust", "inspect", ref).stdout
	var v trustInspect
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 {
		c.t.Fatalf("trust inspect %s: %v\n%s", ref, err, out)
	}
	return v
}

// TestContentTrust is issue 7's signing acceptance: with
// DOCKER_CONTENT_TRUST=1 an unsigned image is refused, a signed one runs,
// a different image pushed under a signed tag is refused; trust sign,
// inspect and revoke work against the registry.
func TestContentTrust(t *testing.T) {
	d := sharedDaemon(t)
	reg := berthRegistry(t)
	c := d.client(t, "berth")
	e := newTrustEnv(t)
	repo := reg.addr + "/" + c.uniqueName("trust")
	unsigned, signed, resigned := repo+":unsigned", repo+":signed", repo+":resigned"
	rmiAtEnd(t, d, unsigned, signed, resigned)

	// An image pushed without trust is refused by pull and run.
	c.ok("tag", "busybox:latest", unsigned)
	trustOK(c, e, false, "push", unsigned)
	trustOK(c, e, false, "trust", "key", "generate", "--dir", e.dir, "alice")
	if _, err := os.Stat(filepath.Join(e.dir, "alice.pub")); err != nil {
		t.Fatalf("trust key generate wrote no public key: %v", err)
	}
	trustRefused(c, e, "No valid trust data for unsigned", "pull", unsigned)
	trustRefused(c, e, "No valid trust data for unsigned", "run", "--rm", unsigned, "true")
	// --disable-content-trust overrides the environment.
	trustOK(c, e, true, "pull", "--disable-content-trust", unsigned)

	// A push with trust signs; the signed tag pulls and runs.
	c.ok("tag", "busybox:latest", signed)
	out := trustOK(c, e, true, "push", signed).stdout
	if !strings.Contains(out, "Successfully signed "+signed) {
		t.Fatalf("push with content trust did not sign:\n%s", out)
	}
	dgst := pushed(t, out)
	ins := inspectTrust(c, e, signed)
	if len(ins[0].SignedTags) != 1 || ins[0].SignedTags[0].Digest != dgst.Encoded() || strings.Join(ins[0].SignedTags[0].Signers, ",") != "alice" {
		t.Fatalf("trust inspect %s: %+v, want signed by alice at %s", signed, ins, dgst)
	}
	pretty := trustOK(c, e, false, "trust", "inspect", "--pretty", repo).stdout
	if !strings.Contains(pretty, "Signatures for "+repo) || !strings.Contains(pretty, "alice") {
		t.Fatalf("trust inspect --pretty:\n%s", pretty)
	}

	// Neither tag of the image is local: run pulls the signed digest.
	c.ok("rmi", signed, unsigned)
	r := trustOK(c, e, true, "run", "--rm", signed, "echo", "trusted")
	if strings.TrimSpace(r.stdout) != "trusted" || !strings.Contains(r.stderr, "Tagging "+repo+"@"+dgst.String()+" as "+signed) {
		t.Fatalf("run of the signed image:\n%s", r)
	}
	r = trustOK(c, e, true, "pull", signed)
	if !strings.Contains(r.stdout, "Pull (1 of 1): "+signed+"@"+dgst.String()) {
		t.Fatalf("trusted pull:\n%s", r)
	}

	// A different image pushed under the signed tag, unsigned, is refused
	// (the signature names the old digest), even though the tag is local.
	name := c.uniqueName("retag")
	c.ok("run", "--name", name, "busybox:latest", "sh", "-c", "echo changed > /changed")
	c.ok("commit", name, signed)
	trustOK(c, e, false, "push", signed)
	trustRefused(c, e, "No valid trust data for signed", "pull", signed)
	trustRefused(c, e, "No valid trust data for signed", "run", "--rm", signed, "cat", "/changed")
	if ins := inspectTrust(c, e, signed); len(ins[0].SignedTags) != 0 {
		t.Fatalf("trust inspect lists the re-pushed tag as signed: %+v", ins)
	}

	// trust sign signs what the registry holds; revoke takes it back.
	c.ok("tag", "busybox:latest", resigned)
	trustOK(c, e, false, "push", resigned)
	if r := trustOK(c, e, false, "trust", "sign", resigned); !strings.Contains(r.stdout, "Successfully signed "+resigned) {
		t.Fatalf("trust sign:\n%s", r)
	}
	trustOK(c, e, true, "pull", resigned)
	if r := trustOK(c, e, false, "trust", "revoke", resigned); !strings.Contains(r.stdout, "Successfully deleted signature for "+resigned) {
		t.Fatalf("trust revoke:\n%s", r)
	}
	trustRefused(c, e, "No valid trust data for resigned", "pull", resigned)
}

// TestContentTrustSigners checks whose signatures count: a key that is
// not trusted for the repository signs in vain, until `trust signer add`
// trusts it; passphrases may come from stdin.
func TestContentTrustSigners(t *testing.T) {
	d := sharedDaemon(t)
	reg := berthRegistry(t)
	c := d.client(t, "berth")
	alice, mallory := newTrustEnv(t), newTrustEnv(t)
	repo := reg.addr + "/" + c.uniqueName("signers")
	ref := repo + ":v1"
	rmiAtEnd(t, d, ref)

	// alice's key, its passphrase typed on stdin rather than taken from
	// the environment.
	r := c.runWith(strings.NewReader("a long passphrase\na long passphrase\n"), []string{"DOCKER_CONFIG=" + alice.config}, "trust", "key", "generate", "--dir", alice.dir, "alice")
	if r.code != 0 || !strings.Contains(r.stdout, "Enter passphrase for new alice key with ID") {
		t.Fatalf("trust key generate with a typed passphrase: %s", r)
	}
	trustOK(c, alice, false, "trust", "signer", "add", "--key", filepath.Join(alice.dir, "alice.pub"), "alice", repo)

	// mallory signs with a key of her own (generated on the fly).
	c.ok("tag", "busybox:latest", ref)
	trustOK(c, mallory, true, "push", ref)
	trustRefused(c, alice, "trust data mismatch", "pull", ref)

	// Once mallory's key is trusted for the repository, her signature counts.
	pub := filepath.Join(mallory.config, "trust", "signers", "repository.pub")
	trustOK(c, alice, false, "trust", "signer", "add", "--key", pub, "mallory", repo)
	trustOK(c, alice, true, "pull", ref)
	trustOK(c, alice, false, "trust", "signer", "remove", "mallory", repo)
	trustRefused(c, alice, "trust data mismatch", "pull", ref)
}

// cosignBinary finds cosign: $BERTH_COSIGN, or scripts/build-cosign.sh's
// build, made now when it is not there yet (scripts/test.sh makes it before
// the suite runs; from an empty module cache it takes minutes).
func cosignBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BERTH_COSIGN"); p != "" {
		return p
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", filepath.Join(root, "scripts", "build-cosign.sh")).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("building cosign (scripts/build-cosign.sh): %v\n%s", err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// TestContentTrustCosignVerify checks berth's signatures with cosign
// itself: `cosign verify --key alice.pub` accepts the signed digest and
// refuses the tag once an unsigned image replaced it. cosign is built from
// its Go module by scripts/build-cosign.sh.
func TestContentTrustCosignVerify(t *testing.T) {
	d := sharedDaemon(t)
	cosign := cosignBinary(t)
	reg := berthRegistry(t)
	c := d.client(t, "berth")
	e := newTrustEnv(t)
	repo := reg.addr + "/" + c.uniqueName("cosign")
	ref := repo + ":v1"
	rmiAtEnd(t, d, ref)
	trustOK(c, e, false, "trust", "key", "generate", "--dir", e.dir, "alice")
	c.ok("tag", "busybox:latest", ref)
	dgst := pushed(t, trustOK(c, e, true, "push", ref).stdout)

	// An empty trusted root: with a key to verify against, cosign needs no
	// Sigstore material, and given none it would fetch it from the
	// internet (TUF).
	trustedRoot := filepath.Join(e.dir, "trusted_root.json")
	if err := os.WriteFile(trustedRoot, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func(image string) ([]byte, error) {
		cmd := exec.Command(cosign, "verify", "--key", filepath.Join(e.dir, "alice.pub"), "--trusted-root", trustedRoot,
			"--insecure-ignore-tlog=true", "--allow-insecure-registry", "--allow-http-registry", image)
		cmd.Env = append(cleanEnv(), "PATH="+os.Getenv("PATH"), "HOME="+e.dir, "DOCKER_CONFIG="+e.config, "TUF_ROOT="+filepath.Join(e.dir, "tuf"))
		return cmd.CombinedOutput()
	}
	if out, err := verify(repo + "@" + dgst.String()); err != nil {
		t.Fatalf("cosign verify refused berth's signature: %v\n%s", err, out)
	} else {
		t.Logf("cosign verify %s@%s:\n%s", repo, dgst, out)
	}
	if out, err := verify(ref); err != nil {
		t.Fatalf("cosign verify %s: %v\n%s", ref, err, out)
	}

	// The tag moved to an unsigned image: cosign refuses it as berth does.
	name := c.uniqueName("cosign-retag")
	c.ok("run", "--name", name, "busybox:latest", "touch", "/changed")
	c.ok("commit", name, ref)
	trustOK(c, e, false, "push", ref)
	if out, err := verify(ref); err == nil {
		t.Fatalf("cosign verify accepted an unsigned image:\n%s", out)
	}

	// The other way round: cosign signs with its own key pair, and berth
	// accepts the signature once cosign.pub is a trusted signer.
	cosignCmd := func(args ...string) {
		t.Helper()
		cmd := exec.Command(cosign, args...)
		cmd.Dir = e.dir
		cmd.Env = append(cleanEnv(), "PATH="+os.Getenv("PATH"), "HOME="+e.dir, "DOCKER_CONFIG="+e.config,
			"TUF_ROOT="+filepath.Join(e.dir, "tuf"), "COSIGN_PASSWORD=cosign-pass")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	trustRefused(c, e, "No valid trust data for v1", "pull", ref)
	cosignCmd("generate-key-pair")
	cosignCmd("sign", "--key", "cosign.key", "--tlog-upload=false", "--yes", "--allow-insecure-registry", "--allow-http-registry", ref)
	trustRefused(c, e, "trust data mismatch", "pull", ref)
	trustOK(c, e, false, "trust", "signer", "add", "--key", filepath.Join(e.dir, "cosign.pub"), "cosign", repo)
	trustOK(c, e, true, "pull", ref)
}
