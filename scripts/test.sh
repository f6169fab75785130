#!/usr/bin/env bash
# test.sh — run every test, as root, from anywhere in the repository:
# dependencies (quietly), gofmt, go vet, unit tests, then the integration suite
# against real berthd daemons. Exits non-zero if any step fails; the last lines
# are go test's own summary for the integration suite.
#
#   sudo bash scripts/test.sh
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/deps.sh
source "$repo/scripts/deps.sh"

if [ "$(id -u)" != 0 ]; then
	echo "error: test.sh must run as root (the integration suite runs containers): sudo bash scripts/test.sh" >&2
	exit 1
fi

BERTH_QUIET=1 berth_install_deps || exit 1
BERTH_QUIET=1 berth_install_test_deps || exit 1
berth_check_go "$repo" || exit 1
export GOFLAGS=${GOFLAGS:-}

failed=()
step() { echo; echo "==> $*"; }

step "gofmt -l"
unformatted=$(find . -path ./.git -prune -o -name '*.go' -print0 | xargs -0 -r gofmt -l)
if [ -n "$unformatted" ]; then
	echo "these files need gofmt:"
	echo "$unformatted"
	failed+=(gofmt)
fi

step "go vet ./..."
go vet ./... || failed+=("go vet")

step "unit tests"
mapfile -t unit_pkgs < <(go list ./... | grep -v '^berth/tests/')
if [ "${#unit_pkgs[@]}" -gt 0 ]; then
	go test -count=1 -timeout 10m "${unit_pkgs[@]}" || failed+=("unit tests")
fi

if [ "${#failed[@]}" -gt 0 ]; then
	echo
	echo "failed so far: ${failed[*]}"
fi

# cosign checks berth's content-trust signatures in the integration suite;
# it is built from its Go module (about 4 minutes the first time, then kept
# in /var/cache/berth/cosign).
step "build cosign (for the content-trust check)"
BERTH_COSIGN=$(bash scripts/build-cosign.sh | tail -n 1) && export BERTH_COSIGN || failed+=("build cosign")

step "integration tests"
go test -count=1 -timeout 20m -v ./tests/integration/... || failed+=("integration tests")

if [ "${#failed[@]}" -gt 0 ]; then
	echo "test.sh: failed steps: ${failed[*]}" >&2
	exit 1
fi
exit 0
