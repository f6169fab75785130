#!/usr/bin/env bash
# build-cosign.sh — build sigstore's cosign from its Go module, for checking
# that berth's content-trust signatures are cosign's (the integration test
# TestContentTrustCosignVerify runs `cosign verify --key` against them).
#
#   bash scripts/build-cosign.sh [DIR]    (default DIR: /var/cache/berth/cosign)
#
# Writes DIR/cosign and prints its path. cosign is a tool the tests use, never
# a dependency of berth's binaries: `go install pkg@version` builds it with its
# own module graph in a temporary directory, so berth's go.mod does not change.
# Building takes minutes (cosign pulls in cloud SDKs: 3.5 minutes on an idle
# 2-core machine with empty module and build caches, far longer when the
# machine is busy); scripts/test.sh runs it before the integration suite. An
# existing DIR/cosign of the same version (DIR/VERSION) is kept.
# COSIGN_VERSION picks the release (a version the Go module proxy serves).
set -euo pipefail

version=${COSIGN_VERSION:-v2.6.5}
dir=${1:-/var/cache/berth/cosign}
mkdir -p "$dir"

if [[ -x $dir/cosign && $(cat "$dir/VERSION" 2>/dev/null) == "$version" ]]; then
	echo "$dir/cosign"
	exit 0
fi

work=$(mktemp -d /tmp/build-cosign.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The version is stamped as cosign's release builds stamp it.
(cd "$work" && CGO_ENABLED=0 GOBIN="$work/bin" go install \
	-ldflags "-X sigs.k8s.io/release-utils/version.gitVersion=$version" \
	"github.com/sigstore/cosign/v2/cmd/cosign@$version")
install -m 0755 "$work/bin/cosign" "$dir/cosign"
echo "$version" >"$dir/VERSION"
echo "$dir/cosign"
