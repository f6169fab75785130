// Package trust implements content trust for berth's CLI: `trust key
// generate`, `trust signer add/remove`, `trust sign`, `trust inspect` and
// `trust revoke`, and the checks `pull`, `push` and `run` make when
// DOCKER_CONTENT_TRUST=1 (or --disable-content-trust=false).
//
// # Signature format
//
// Signatures are cosign's, stored in the registry beside the image, so
// `cosign verify --key NAME.pub` accepts what berth signs and berth accepts
// what cosign signs with a key berth trusts. For an image manifest with
// digest sha256:HEX in repository R, the tag R:sha256-HEX.sig holds an OCI
// image manifest whose layers are simple-signing payloads
// (application/vnd.dev.cosign.simplesigning.v1+json):
//
//	{"critical":{"identity":{"docker-reference":"R"},
//	             "image":{"docker-manifest-digest":"sha256:HEX"},
//	             "type":"cosign container image signature"},
//	 "optional":null}
//
// each layer annotated with dev.cosignproject.cosign/signature: the base64
// ASN.1 ECDSA P-256 signature over SHA-256 of the payload. Signing appends a
// layer (re-signing with the same key replaces its signature); revoking
// rewrites the manifest without the signatures that a signer known to this
// machine (signers/, below) made, and deletes the .sig manifest when none
// remain (where the registry refuses deletes, an empty one is left, which
// reads as unsigned).
//
// Docker's own CLI implements content trust with Notary v1 (TUF metadata on
// a separate server) and does not read these signatures; content trust
// here is berth's.
//
// # Keys and trust, on disk
//
// Everything lives in the CLI configuration directory's trust/ folder
// (~/.docker/trust, or $DOCKER_CONFIG/trust):
//
//	private/<keyID>.key   an ECDSA P-256 private key, PKCS#8 encrypted as
//	                      cosign encrypts it (PEM "ENCRYPTED SIGSTORE PRIVATE
//	                      KEY": scrypt + nacl/secretbox), header "role: NAME"
//	signers/<NAME>.pub    a trusted signer's public key (PEM "PUBLIC KEY")
//	repositories.json     {"registry/repo": ["NAME", ...]}: the signers
//	                      trusted for each repository
//
// keyID is the hex SHA-256 of the public key's PKIX encoding. `trust key
// generate NAME` writes both halves and NAME.pub in the current directory;
// `trust signer add --key FILE NAME REPO...` trusts NAME's key for the
// repositories; signing a repository from this machine records the signing
// key's signer for it. Verification trusts, for a repository, the signers
// recorded for it, or, when none is recorded, every signer in signers/.
// A signature counts when it verifies under a trusted key and its payload
// names the manifest digest being pulled and the repository it is pulled
// from.
//
// Private keys are unlocked with DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE
// (DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE for a key named "root", each
// falling back to the other), or a passphrase read from the terminal.
//
// Registry access is a small Docker Registry HTTP API V2 client of this
// package's own (basic and bearer auth from config.json, certs.d CAs, plain
// HTTP for loopback registries), so the CLI needs no daemon support: it
// works against any Docker API daemon. Image transfer itself stays with
// the daemon: a trusted pull resolves the tag to a signed digest here,
// pulls NAME@DIGEST through the daemon and tags it.
package trust
