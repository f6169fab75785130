#!/usr/bin/env bash
# build.sh — build berth, berthd, berth-shim and berth-registry (static, CGO_ENABLED=0) into a
# directory, stamped with the version and commit.
#
#   bash scripts/build.sh [OUTDIR]      (default: ./bin)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/bin}
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) export PATH="/usr/local/go/bin:$PATH" ;; esac

cd "$repo"
# A release tag names the version; otherwise the source's default stands.
version=$(git describe --tags --exact-match 2>/dev/null | sed 's/^v//' || true)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit-dirty"
fi
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# cmd/berth and cmd/berthd declare main.version, main.commit, main.buildTime
# (the linker ignores -X for a binary that lacks them, e.g. berth-shim).
ldflags="-s -w -X main.commit=$commit -X main.buildTime=$built"
if [ -n "$version" ]; then
	ldflags+=" -X main.version=$version"
fi

mkdir -p "$out"
for bin in berth berthd berth-shim; do
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$bin" "./cmd/$bin"
done
# berth-registry declares only main.version. Go records -ldflags in the
# binary, so the build time would make every build differ; without it the
# same source gives the same binary, which install.sh compares with the one
# in registry:2.
registry_ldflags="-s -w"
if [ -n "$version" ]; then
	registry_ldflags+=" -X main.version=$version"
fi
CGO_ENABLED=0 go build -trimpath -ldflags "$registry_ldflags" -o "$out/berth-registry" ./cmd/berth-registry
echo "built berth ${version:-(untagged)} ($commit) into $out"
