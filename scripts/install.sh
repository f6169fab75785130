#!/usr/bin/env bash
# install.sh — set berth up on a fresh Debian 12 machine, as root, from the
# repository root:
#   1. install runtime dependencies from Debian, check Go;
#   2. build berth, berthd, berth-shim, berth-registry; install to /usr/local/bin;
#   3. create group berth, install the systemd unit (systemd is not required);
#   4. (re)start berthd in the background, logging to /var/log/berthd.log;
#   5. create busybox:latest from busybox-static and registry:2 from berth-registry;
#   6. run `berth run --rm busybox echo hello from berth`.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/deps.sh
source "$repo/scripts/deps.sh"

prefix=/usr/local/bin
exec_root=/run/berth
sock=$exec_root/berth.sock
pidfile=$exec_root/berthd.pid # berthd's default --pidfile
logfile=/var/log/berthd.log

if [ "$(id -u)" != 0 ]; then
	echo "error: install.sh must run as root: sudo bash scripts/install.sh" >&2
	exit 1
fi

berth_log "dependencies"
berth_install_deps
berth_check_go "$repo"

berth_log "building berth, berthd, berth-shim"
build_dir=$(mktemp -d /tmp/berth-build.XXXXXX)
trap 'rm -rf "$build_dir"' EXIT
bash "$repo/scripts/build.sh" "$build_dir"

# Stop the berthd this script started last time before replacing its binary.
stop_berthd() {
	local pid i
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile" 2>/dev/null || true)
	case "$pid" in '' | *[!0-9]*) return 0 ;; esac
	if [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" != berthd ]; then
		return 0
	fi
	berth_log "stopping berthd (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 150); do
		[ -d "/proc/$pid" ] || return 0
		sleep 0.2
	done
	echo "berthd (pid $pid) did not stop within 30s; killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
}
stop_berthd

berth_log "installing to $prefix"
for bin in berth berthd berth-shim berth-registry; do
	install -m 0755 "$build_dir/$bin" "$prefix/$bin.new"
	mv -f "$prefix/$bin.new" "$prefix/$bin"
done
# dockerd's --init binary is called docker-init; Debian's tini-static is it.
if [ -x /usr/bin/tini-static ] && [ ! -e "$prefix/docker-init" ]; then
	ln -s /usr/bin/tini-static "$prefix/docker-init"
fi

getent group berth >/dev/null || groupadd --system berth
install -d -m 0755 /etc/berth /usr/local/share/doc/berth
install -m 0644 "$repo/README.md" /usr/local/share/doc/berth/README.md
if [ -d /etc/systemd/system ]; then
	install -m 0644 "$repo/scripts/berthd.service" /etc/systemd/system/berthd.service
fi

berth_log "starting berthd (log: $logfile)"
install -d -m 0711 "$exec_root"
setsid nohup "$prefix/berthd" >>"$logfile" 2>&1 </dev/null &
berthd_pid=$!

ready=0
for i in $(seq 1 150); do
	if curl -fsS --max-time 2 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1; then
		ready=1
		break
	fi
	if ! kill -0 "$berthd_pid" 2>/dev/null; then
		break
	fi
	sleep 0.2
done
if [ "$ready" != 1 ]; then
	echo "error: berthd did not answer on $sock within 30s; the end of $logfile:" >&2
	tail -n 40 "$logfile" >&2 || true
	exit 1
fi
berth_log "berthd is up (pid $berthd_pid, socket $sock)"

if "$prefix/berth" image inspect busybox:latest >/dev/null 2>&1; then
	berth_log "busybox:latest is already there"
else
	berth_log "creating busybox:latest from busybox-static"
	BERTH="$prefix/berth" bash "$repo/scripts/mkbusybox.sh" busybox:latest
fi
# registry:2, as the seeds run it, is berth-registry in an image of its own,
# made again when the berth-registry just built is not the one inside.
registry_digest="sha256:$(sha256sum "$build_dir/berth-registry" | cut -d' ' -f1)"
if [ "$("$prefix/berth" image inspect -f '{{index .Config.Labels "berth.registry.binary"}}' registry:2 2>/dev/null)" = "$registry_digest" ]; then
	berth_log "registry:2 is already there"
else
	berth_log "creating registry:2 from berth-registry"
	BERTH="$prefix/berth" BERTH_REGISTRY_BIN="$build_dir/berth-registry" bash "$repo/scripts/registry-image.sh"
fi

"$prefix/berth" run --rm busybox echo hello from berth
