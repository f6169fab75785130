#!/usr/bin/env bash
# build.sh — build berth, berthd and berth-shim (static, CGO_ENABLED=0) into a
# directory, stamped with the version and commit.
#
#   bash scripts/build.sh [OUTDIR]      (default: ./bin)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/bin}
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) export PATH="/usr/local/go/bin:$PATH" ;; esac

cd "$repo"
version=$(git describe --tags --always --dirty 2>/dev/null || true)
version=${version:-0.0.0-dev}
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# The linker ignores -X for a variable that does not exist, so naming every
# candidate is safe. TODO(lead): once cmd/berth settles on its version
# variables, keep only those names here (and in tests/integration, which uses
# the same list).
ldflags="-s -w"
for pkg in main berth/internal/version; do
	ldflags+=" -X $pkg.Version=$version -X $pkg.GitCommit=$commit -X $pkg.BuildTime=$built"
	ldflags+=" -X $pkg.version=$version -X $pkg.gitCommit=$commit -X $pkg.commit=$commit -X $pkg.buildTime=$built"
done

mkdir -p "$out"
for bin in berth berthd berth-shim; do
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$bin" "./cmd/$bin"
done
echo "built berth $version ($commit) into $out"
