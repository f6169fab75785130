#!/usr/bin/env bash
# deps.sh — install berth's runtime and test dependencies from Debian and check
# the Go toolchain. Idempotent: when every package is already installed it does
# not touch apt at all. Sourced by install.sh and test.sh; run it directly too.
#
#   bash scripts/deps.sh [--quiet]
set -euo pipefail

# Runtime: OCI runtimes, the busybox image's source, the --init binary, the
# networking tools. Build/test: git (version stamp), curl (socket ping).
BERTH_DEB_PACKAGES=(
	crun runc busybox-static tini iproute2 nftables ca-certificates git curl
	procps util-linux tar gzip
)

# Tests only: a second registry implementation and an OCI copy tool for the
# distribution interop checks. Their packages would start services (Debian's
# docker-registry listens on :5000); the install keeps them from starting.
BERTH_TEST_PACKAGES=(docker-registry skopeo)

berth_log() { if [ "${BERTH_QUIET:-0}" != 1 ]; then echo "==> $*"; fi; }

berth_install_deps() {
	local missing=() p
	for p in "${BERTH_DEB_PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if [ "${#missing[@]}" -eq 0 ]; then
		berth_log "Debian packages already installed"
	else
		berth_log "installing from Debian: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# berth_install_test_deps installs the test-only packages without letting
# their maintainer scripts start services (a policy-rc.d that refuses, only
# for the length of the install, unless one is already in place).
berth_install_test_deps() {
	local missing=() p made_policy=0
	for p in "${BERTH_TEST_PACKAGES[@]}"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	berth_log "installing test packages from Debian: ${missing[*]}"
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	local rc=0
	apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
	if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
	return "$rc"
}

# berth_check_go puts Go on PATH and checks it is at least go.mod's version.
berth_check_go() {
	local repo=$1 want have
	case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) export PATH="/usr/local/go/bin:$PATH" ;; esac
	if ! command -v go >/dev/null 2>&1; then
		echo "error: Go is not installed (looked in PATH and /usr/local/go/bin)" >&2
		return 1
	fi
	want=$(awk '$1 == "go" { print $2; exit }' "$repo/go.mod")
	have=$(go env GOVERSION)
	have=${have#go}
	if [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" != "$want" ]; then
		echo "error: Go $have is older than go.mod's $want" >&2
		return 1
	fi
	berth_log "Go $have (go.mod wants $want)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	if [ "${1:-}" = "--quiet" ]; then BERTH_QUIET=1; fi
	if [ "$(id -u)" != 0 ]; then
		echo "error: run as root (sudo bash scripts/deps.sh)" >&2
		exit 1
	fi
	berth_install_deps
	berth_check_go "$(cd "$(dirname "$0")/.." && pwd)"
fi
