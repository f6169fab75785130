#!/usr/bin/env bash
# bench/network.sh — issue 6's network figures: berthd vs Debian's dockerd vs
# podman, side by side, in one run. A benchmark: not part of CI (it exits at
# once when CI=true).
#
#   sudo bash bench/network.sh
#
# Figures:
#   - `run --rm busybox true` on the default bridge (median of N_RUN after N_WARM);
#   - connections per second through a published port (127.0.0.1:PORT, inside the
#     engine's namespace) and straight to the container's IP: N_CONN short TCP
#     connections (connect, one HTTP/1.0 GET, read to EOF, close), CONCS workers
#     at once (1 and 8), median of N_REP rounds that take turns between the two
#     paths. Client and server are bench/connrate, the server (`connrate -serve
#     :80`, a goroutine per connection, a fixed 3-byte answer) built with
#     CGO_ENABLED=0 and imported as an image holding just that binary, so every
#     engine serves the same cheap server and the path, not a forking httpd, is
#     what the figure shows;
#   - container-to-container TCP throughput on the default bridge with Debian's
#     iperf3 (an image made from /usr/bin/iperf3 and the libraries ldd lists),
#     median of N_IPERF runs of IPERF_SECONDS each.
#
# Each engine's daemon (and podman's CLI, which has no daemon) runs in a network
# namespace of this script's own, so bridges, veths, iptables and nftables rules of
# all three stay there and go with it: nothing touches the host's firewall, and
# every connection stays inside that namespace. The daemons are started with
# networking on (dockerd keeps its default bridge, iptables and userland proxy).
#
# Environment (all optional):
#   ENGINES="berth docker podman"  N_RUN=20 N_WARM=2  N_CONN=10000 N_REP=5 CONCS="1 8"
#   N_IPERF=3 IPERF_SECONDS=5  DOCKER=/usr/local/bin/docker  BENCH_TMP=/tmp
#   KEEP=1 (keep the temp dir)  INSTALL=0 (do not apt-get install what is missing)
#   CMD_TIMEOUT=120 PING_TIMEOUT=60
#
# The helpers shared with bench/run.sh (logging, statistics, daemon start/stop,
# cleanup of shims and mounts, per-engine setup, the suite's exit trap) are in
# bench/lib.sh.
set -uo pipefail

if [ "${CI:-}" = true ]; then
	echo "bench/network.sh: a benchmark; not run in CI" >&2
	exit 0
fi

ENGINES=${ENGINES:-"berth docker podman"}
N_RUN=${N_RUN:-20}
N_WARM=${N_WARM:-2}
N_CONN=${N_CONN:-10000}
N_REP=${N_REP:-5}
CONCS=${CONCS:-"1 8"}
N_IPERF=${N_IPERF:-3}
IPERF_SECONDS=${IPERF_SECONDS:-5}
DOCKER=${DOCKER:-/usr/local/bin/docker}
BENCH_TMP=${BENCH_TMP:-/tmp}
KEEP=${KEEP:-0}
INSTALL=${INSTALL:-1}
CMD_TIMEOUT=${CMD_TIMEOUT:-120}
PING_TIMEOUT=${PING_TIMEOUT:-60}
CRUN_OK=0 # podman uses runc: crun refuses cgroup v1 hybrid hosts (see run.sh)
WEB_PORT=18080 # published inside each engine's own namespace

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=$REPO/bench/results

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

START_TS=$(date -u +%Y-%m-%dT%H:%M:%SZ)
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
trap '' PIPE

[ "$(id -u)" = 0 ] || die "run as root: sudo bash bench/network.sh"
check_engines

# ---------------------------------------------------------------------------
# Packages, as run.sh installs them; iperf3's debconf question (start a
# daemon?) answered no, and policy-rc.d keeps every service from starting.
# ---------------------------------------------------------------------------
need_pkgs=()
has_engine docker && ! command -v dockerd >/dev/null && need_pkgs+=(docker.io)
has_engine podman && ! command -v podman >/dev/null && need_pkgs+=(podman)
command -v busybox >/dev/null || [ -x /bin/busybox ] || need_pkgs+=(busybox-static)
for p in jq curl runc iperf3; do command -v "$p" >/dev/null || need_pkgs+=("$p"); done
command -v nsenter >/dev/null || need_pkgs+=(util-linux)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	echo 'iperf3 iperf3/start_daemon boolean false' | debconf-set-selections 2>/dev/null
	install_pkgs "${need_pkgs[@]}"
fi
check_clients

# ---------------------------------------------------------------------------
# Temp dir, namespaces and cleanup. Short names: see run.sh on shim sockets.
# ---------------------------------------------------------------------------
bench_init_tmp bn
HOST_NETNS=/proc/$$/ns/net # this script runs in the host's namespace
NS_PREFIX=bn$$

ns_name() { echo "$NS_PREFIX-$1"; }
# make_ns ENGINE: a fresh namespace with lo up; sets NS (its path).
make_ns() {
	local n
	n=$(ns_name "$1")
	ip netns add "$n" || return 1
	ip -n "$n" link set lo up || return 1
	NS=/run/netns/$n
}
# in_ns CMD…: CMD inside the current engine's namespace (network only).
in_ns() { nsenter --net="$NS" "$@"; }

# cleanup_netns: bench_cleanup's hook (after daemons and shims are stopped).
cleanup_netns() {
	local e
	for e in berth docker podman; do
		ip netns list 2>/dev/null | grep -qw "$(ns_name "$e")" && ip netns del "$(ns_name "$e")"
	done
	return 0
}
CLEANUP_HOOK=cleanup_netns
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Binaries and images.
# ---------------------------------------------------------------------------
log "building bench/connrate (static: it is also the server image)"
(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$T/bin/connrate" ./bench/connrate) >"$T/connrate-build.log" 2>&1 ||
	die "bench/connrate does not build: $(head -5 "$T/connrate-build.log")"
# The server image: a rootfs holding just /connrate (the engines' runtimes make
# the mount points they need).
CRROOT=$T/connrateroot
mkdir -p "$CRROOT"
cp "$T/bin/connrate" "$CRROOT/connrate"
tar -C "$CRROOT" --numeric-owner --owner=0 --group=0 -cf "$T/connrate.tar" . || die "tar connrate"
if has_engine berth; then
	build_berth || true
fi

# The busybox rootfs, as run.sh makes it.
make_busybox_tar

# iperf3 from Debian: the binary and every library ldd names (the loader too).
IPROOT=$T/iperf3root
mkdir -p "$IPROOT"/{usr/bin,tmp,etc,proc,sys,dev}
chmod 1777 "$IPROOT/tmp"
cp /usr/bin/iperf3 "$IPROOT/usr/bin/iperf3" || die "no /usr/bin/iperf3"
for lib in $(ldd /usr/bin/iperf3 | grep -o '/[^ ]*'); do
	cp -L --parents "$lib" "$IPROOT" || die "copying $lib for iperf3"
done
chroot "$IPROOT" /usr/bin/iperf3 --version >/dev/null || die "iperf3 does not run from its own rootfs"
tar -C "$IPROOT" --numeric-owner --owner=0 --group=0 -cf "$T/iperf3.tar" . || die "tar iperf3"

# ---------------------------------------------------------------------------
# Engines: run.sh's setup_<e> (roots, socket, client), started here inside the
# engine's namespace with networking on. nsenter --net execs in place (the
# recorded PID is the daemon's) and changes only the network namespace: `ip
# netns exec` would also remount /sys, hiding /sys/fs/cgroup from the daemon.
# ---------------------------------------------------------------------------
start_berth() {
	launch_daemon "$E/sock" "$E/daemon.log" nsenter --net="$NS" env PATH="$T/bin:$PATH" "$T/bin/berthd" \
		--config-file "$E/daemon.json" --data-root "$E/data" --exec-root "$X" \
		--pidfile "$E/pid" -H "unix://$E/sock"
}
stop_berth() { stop_daemon; }
start_docker() {
	launch_daemon "$E/sock" "$E/daemon.log" nsenter --net="$NS" dockerd \
		--config-file "$E/daemon.json" --data-root "$E/data" --exec-root "$X" \
		--pidfile "$E/pid" -H "unix://$E/sock"
	local p
	p=$(containerd_pid)
	if [ -n "$p" ]; then record_daemon "$p"; fi
}

# c: the engine's client, bounded by CMD_TIMEOUT. Podman has no daemon: its
# CLI sets up the container's network itself, so it runs in the namespace
# (nsenter costs about a millisecond per command).
c() {
	if [ "$ENGINE" = podman ]; then
		timeout --foreground -k 10 "$CMD_TIMEOUT" nsenter --net="$NS" "${PODMAN[@]}" "$@"
	else
		timeout --foreground -k 10 "$CMD_TIMEOUT" "$DOCKER" "$@"
	fi
}

# container_ip NAME: the container's address on the default network.
container_ip() {
	local ip
	ip=$(c inspect -f '{{.NetworkSettings.IPAddress}}' "$1")
	[ -n "$ip" ] || ip=$(c inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1")
	echo "$ip"
}

# wait_http URL: until the server answers inside the namespace (30 s at most).
wait_http() {
	local i
	for ((i = 0; i < 300; i++)); do
		in_ns curl -sf -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	log "$ENGINE: $1 did not answer within 30s"
	return 1
}

# connrate KEY URL C: one connrate measurement inside the namespace, C
# connections at once; the rate is appended to KEY's samples.
connrate() {
	local out
	out=$(in_ns "$T/bin/connrate" -url "$2" -n "$N_CONN" -c "$3" -max-time 120s -host-netns "$HOST_NETNS" 2>>"$E/connrate.log") || {
		log "$ENGINE: connrate $2 -c $3 failed:"
		tail -3 "$E/connrate.log" >&2
		return 1
	}
	echo "$out" >>"$R.$1.samples"
}

# syn_retrans: SYNs the namespace's TCP stack sent again (TcpExtTCPSynRetrans);
# every one is a connection that waited a second.
syn_retrans() {
	in_ns cat /proc/net/netstat | awk '/^TcpExt:/ {if (!h) {for (i = 1; i <= NF; i++) k[i] = $i; h = 1} else for (i = 1; i <= NF; i++) if (k[i] == "TCPSynRetrans") print $i}'
}

# iperf_once: one iperf3 client run against the server container at $1;
# prints Gbit/s received. The server may not listen yet: a few tries.
iperf_once() {
	local i
	for ((i = 0; i < 50; i++)); do
		if c run --rm iperf3:bench /usr/bin/iperf3 -c "$1" -t "$IPERF_SECONDS" -J >"$E/iperf.json" 2>"$E/iperf.err"; then
			jq -r '.end.sum_received.bits_per_second / 1e9 | . * 100 | round / 100' "$E/iperf.json"
			return 0
		fi
		grep -q 'Connection refused\|unable to connect' "$E/iperf.json" "$E/iperf.err" 2>/dev/null || break
		sleep 0.2
	done
	log "$ENGINE: iperf3 client failed:"
	tail -3 "$E/iperf.err" "$E/iperf.json" >&2
	return 1
}

net_suite() {
	ENGINE=$1
	local t0 i cc out cip sip
	trap 'log "$ENGINE: failed at line $LINENO: $BASH_COMMAND"' ERR
	"setup_$ENGINE"
	local R=$T/res/$ENGINE
	log "== $ENGINE_LABEL =="
	make_ns "$ENGINE"
	[ "$ENGINE" = podman ] || "start_$ENGINE"

	q import "$T/busybox.tar" busybox:latest
	q import "$T/iperf3.tar" iperf3:bench
	q import "$T/connrate.tar" connrate:bench
	out=$(c run --rm busybox echo hello 2>&1) || {
		log "$ENGINE: smoke test failed: $out"
		return 1
	}

	# 1. run --rm busybox true on the default bridge.
	log "$ENGINE: run --rm on the default bridge ×$N_RUN (+$N_WARM warm-up)"
	for ((i = 0; i < N_WARM + N_RUN; i++)); do
		t0=${EPOCHREALTIME/./}
		q run --rm busybox true
		((i >= N_WARM)) && since_ms "$t0" >>"$R.run_bridge.samples"
	done
	put "$ENGINE" run_bridge "$(median <"$R.run_bridge.samples")"

	# 2. Connections per second: published port vs a container's own IP,
	# against connrate's own server; the rounds take turns between the paths
	# so that a change in the machine's load hits both alike. Each path has a
	# server container of its own (web published, web2 not): a NAT that
	# masquerades 127.0.0.1 to the bridge's address (berth's, podman's)
	# makes the published connections arrive from the same address and port
	# range as the direct ones, but from sockets with other sequence numbers
	# and timestamps, so a direct SYN meeting the server's TIME_WAIT of a
	# published connection (or the reverse) is answered with an ACK, reset,
	# and retried a second later (the client's TcpExtTCPSynRetrans, one per
	# TcpOutRsts): an artefact of mixing the paths on one server, not the
	# cost of either.
	log "$ENGINE: $N_REP × $N_CONN connections (${CONCS// /, } at once) through 127.0.0.1:$WEB_PORT and to a container's IP"
	q run -d --name web -p "$WEB_PORT:80" connrate:bench /connrate -serve :80
	q run -d --name web2 connrate:bench /connrate -serve :80
	cip=$(container_ip web2)
	wait_http "http://127.0.0.1:$WEB_PORT/"
	wait_http "http://$cip:80/"
	put "$ENGINE" conn_load "$(cut -d' ' -f1-3 /proc/loadavg)"
	put "$ENGINE" conn_synretrans "$(syn_retrans)"
	for ((i = 0; i < N_REP; i++)); do
		for cc in $CONCS; do
			connrate "conn_published_c$cc" "http://127.0.0.1:$WEB_PORT/" "$cc"
			connrate "conn_direct_c$cc" "http://$cip:80/" "$cc"
		done
	done
	for cc in $CONCS; do
		put "$ENGINE" "conn_published_c$cc" "$(median <"$R.conn_published_c$cc.samples")"
		put "$ENGINE" "conn_direct_c$cc" "$(median <"$R.conn_direct_c$cc.samples")"
		put "$ENGINE" "conn_share_c$cc" "$(ratio "$(get "$ENGINE" "conn_published_c$cc")" "$(get "$ENGINE" "conn_direct_c$cc")")"
	done
	put "$ENGINE" conn_load "$(get "$ENGINE" conn_load) before, $(cut -d' ' -f1-3 /proc/loadavg) after"
	put "$ENGINE" conn_synretrans "$(($(syn_retrans) - $(get "$ENGINE" conn_synretrans)))"
	rm_all

	# 3. Container-to-container TCP throughput on the default bridge.
	log "$ENGINE: iperf3 ×$N_IPERF, ${IPERF_SECONDS}s each, container to container"
	q run -d --name ipsrv iperf3:bench /usr/bin/iperf3 -s
	sip=$(container_ip ipsrv)
	for ((i = 0; i < N_IPERF; i++)); do
		iperf_once "$sip" >>"$R.iperf.samples"
	done
	put "$ENGINE" iperf "$(median <"$R.iperf.samples")"
	rm_all

	[ "$ENGINE" = podman ] || "stop_$ENGINE"
	ip netns del "$(ns_name "$ENGINE")"
	log "$ENGINE: done"
}

# net_suite_ns runs the suite with NS naming the engine's namespace.
net_suite_ns() {
	NS=/run/netns/$(ns_name "$1")
	net_suite "$1"
}
run_suites net_suite_ns

# ---------------------------------------------------------------------------
# Table. Targets from issue 6: run ≤ 0.4× dockerd; published-port connection
# rate ≥ 2× dockerd's (userland proxy) and ≥ 0.9× a direct connection, judged
# at each concurrency. The engines are measured one after another, so a
# change in the machine's load between them moves the cross-engine ratios; the
# published ÷ direct row divides it out (each engine's two paths are measured
# in alternation, against the same kernel), and its berth/dockerd column is
# the 2× target in that load-neutral form.
# ---------------------------------------------------------------------------
# verdict_op A B OP LIMIT → ok when A/B OP LIMIT holds exactly (not the
# rounded ratio), MISS, or nothing without figures
verdict_op() {
	[[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && [ "$(echo "$2 > 0" | bc)" = 1 ] || return 0
	if [ "$(echo "scale=6; $1 / $2 $3 $4" | bc)" = 1 ]; then echo ok; else echo MISS; fi
}
# nrow LABEL KEY TARGET-TEXT [OP LIMIT]: OP/LIMIT judge berth/dockerd
nrow() {
	local b d p rd rp tgt=$3 v=
	b=$(fmt "$(get berth "$2")")
	d=$(fmt "$(get docker "$2")")
	p=$(fmt "$(get podman "$2")")
	rd=$(ratio "$b" "$d")
	rp=$(ratio "$b" "$p")
	[ -n "${4:-}" ] && v=$(verdict_op "$b" "$d" "$4" "$5")
	[ -n "$v" ] && tgt="$tgt [dockerd $v]"
	printf '%s | %s | %s | %s | %s | %s | %s\n' "$1" "$b" "$d" "$p" "$rd" "$rp" "$tgt"
}

{
	echo "# berth network bench — $START_TS — $(uname -r), $(nproc) CPUs, load $START_LOAD at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
	echo "# dockerd: $(dockerd --version 2>/dev/null || echo n/a) (bridge, iptables, userland proxy on); podman: $(podman --version 2>/dev/null || echo n/a) (runc); iperf3: $(iperf3 --version 2>/dev/null | head -1)"
	echo "# each engine in a network namespace of its own; podman's CLI runs there through nsenter"
	echo "# connections: bench/connrate's client against its own static server (connrate -serve :80, the same image for every engine), one server container per path; $N_CONN per sample, median of $N_REP"
	for e in berth docker podman; do
		[ "$(get "$e" conn_load)" != - ] && echo "# load average around $e's connection figures: $(get "$e" conn_load); SYNs retransmitted: $(get "$e" conn_synretrans)"
	done
	for e in berth docker podman; do
		s=$(get "$e" status)
		[ "$s" != - ] && echo "# $e: $s"
		has_engine "$e" || { [ "$s" = - ] && echo "# $e: not measured (ENGINES)"; }
	done
	echo
	echo "metric | berth | dockerd | podman | berth/dockerd | berth/podman | target"
	nrow "run --rm busybox true, default bridge (ms, median of $N_RUN)" run_bridge "≤0.4× dockerd" "<=" 0.4
	for cc in $CONCS; do
		nrow "connections/s through published 127.0.0.1:$WEB_PORT, $cc at once" "conn_published_c$cc" "≥2× dockerd" ">=" 2
		nrow "connections/s straight to the container's IP, $cc at once" "conn_direct_c$cc" ""
		b=$(get berth "conn_share_c$cc")
		v=$(verdict_op "$(get berth "conn_published_c$cc")" "$(get berth "conn_direct_c$cc")" ">=" 0.9)
		printf '%s | %s | %s | %s | %s | %s | %s\n' "published ÷ direct, same engine, $cc at once" "$b" "$(get docker "conn_share_c$cc")" "$(get podman "conn_share_c$cc")" \
			"$(ratio "$b" "$(get docker "conn_share_c$cc")")" "$(ratio "$b" "$(get podman "conn_share_c$cc")")" "berth ≥0.9${v:+ [$v]}; berth/dockerd here is the 2× target with each engine's own load factored out"
	done
	nrow "TCP throughput container→container, one bridge (Gbit/s, iperf3, median of $N_IPERF × ${IPERF_SECONDS}s)" iperf ""
	echo
	echo "samples:"
	for f in "$T"/res/*.samples; do
		[ -e "$f" ] || continue
		printf '  %s: %s\n' "$(basename "$f" .samples)" "$(tr '\n' ' ' <"$f")"
	done
} >"$T/table.txt"

mkdir -p "$RESULTS_DIR"
cp "$T/table.txt" "$RESULTS_DIR/network-latest.txt"
echo
cat "$T/table.txt"
log "written to $RESULTS_DIR/network-latest.txt"
