#!/usr/bin/env bash
# bench/storage.sh — issue 5's figures, berthd vs Debian's dockerd vs podman:
#   1. create+start of a container with N_VOL named volumes (volumes made
#      beforehand), and the same with N_VOL new names (made by the create);
#   2. `system df` with N_IMAGES images and N_CONTAINERS containers (created,
#      not started): the API call (GET /system/df through curl; podman: its
#      `system service`), and the CLI's `system df` for reference.
# A benchmark: not part of CI (it exits at once when CI=true).
#
#   sudo bash bench/storage.sh
#
# Environment (all optional):
#   ENGINES="berth docker podman"  N_VOL=10 N_START=10 (samples) N_WARM=2
#   N_IMAGES=200 N_CONTAINERS=500 N_DF=10 (samples, after one warm-up)
#   DOCKER=/usr/local/bin/docker  BENCH_TMP=/tmp  KEEP=1 (keep the temp dir)
#   INSTALL=0 (do not apt-get install what is missing)  CMD_TIMEOUT=120 PING_TIMEOUT=60
#
# Engines are run as bench/run.sh runs them (bench/lib.sh): each alone, with
# its own roots under one temp dir, stopped by the PID this script started;
# everything is unmounted and removed on exit, also on failure or Ctrl-C.
# The N_IMAGES images are cheap and distinct: each is an `import` of a tar
# holding one small file of its own. Time is bash's $EPOCHREALTIME around the
# client command (or curl), as in bench/run.sh.
set -uo pipefail

if [ "${CI:-}" = true ]; then
	echo "bench/storage.sh: a benchmark; not run in CI" >&2
	exit 0
fi

ENGINES=${ENGINES:-"berth docker podman"}
N_VOL=${N_VOL:-10}
N_START=${N_START:-10}
N_WARM=${N_WARM:-2}
N_IMAGES=${N_IMAGES:-200}
N_CONTAINERS=${N_CONTAINERS:-500}
N_DF=${N_DF:-10}
DOCKER=${DOCKER:-/usr/local/bin/docker}
BENCH_TMP=${BENCH_TMP:-/tmp}
KEEP=${KEEP:-0}
INSTALL=${INSTALL:-1}
CMD_TIMEOUT=${CMD_TIMEOUT:-120}
PING_TIMEOUT=${PING_TIMEOUT:-60}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=$REPO/bench/results
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

START_TS=$(date -u +%Y-%m-%dT%H:%M:%SZ)
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
trap '' PIPE

[ "$(id -u)" = 0 ] || die "run as root: sudo bash bench/storage.sh"
check_engines

need_pkgs=()
has_engine docker && ! command -v dockerd >/dev/null && need_pkgs+=(docker.io)
has_engine podman && ! command -v podman >/dev/null && need_pkgs+=(podman)
command -v busybox >/dev/null || [ -x /bin/busybox ] || need_pkgs+=(busybox-static)
for p in jq curl runc; do command -v "$p" >/dev/null || need_pkgs+=("$p"); done
install_pkgs "${need_pkgs[@]}"
check_clients

bench_init_tmp bs
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

make_busybox_tar
# The tiny images' tars: one file each, with its own content.
log "making $N_IMAGES tiny image tars"
mkdir -p "$T/tiny"
for ((i = 0; i < N_IMAGES; i++)); do
	mkdir -p "$T/tiny/r$i"
	echo "tiny image $i" >"$T/tiny/r$i/id"
	tar -C "$T/tiny/r$i" --numeric-owner --owner=0 --group=0 -cf "$T/tiny/$i.tar" . || die "tar tiny $i"
	rm -rf "$T/tiny/r$i"
done

# crun refuses cgroup v1 hybrid hosts; podman then uses runc (setup_podman).
CRUN_OK=0
if command -v crun >/dev/null; then
	mkdir -p "$T/crun-probe/rootfs"
	cp -a "$ROOTFS/." "$T/crun-probe/rootfs/"
	(cd "$T/crun-probe" && runc spec && jq '.process.args=["true"] | .process.terminal=false' config.json >c.json && mv c.json config.json) >/dev/null 2>&1
	crun --root "$T/crun-state" run --bundle "$T/crun-probe" bench-crun-probe </dev/null >/dev/null 2>&1 && CRUN_OK=1
	rm -rf "$T/crun-probe"
fi

start_berth() {
	launch_daemon "$E/sock" "$E/daemon.log" env PATH="$T/bin:$PATH" "$T/bin/berthd" \
		--config-file "$E/daemon.json" --data-root "$E/data" --exec-root "$X" \
		--pidfile "$E/pid" -H "unix://$E/sock"
}
start_docker() {
	launch_daemon "$E/sock" "$E/daemon.log" dockerd \
		--config-file "$E/daemon.json" --data-root "$E/data" --exec-root "$X" \
		--pidfile "$E/pid" -H "unix://$E/sock" \
		--bridge=none --iptables=false --ip6tables=false
	local p
	p=$(containerd_pid)
	if [ -n "$p" ]; then record_daemon "$p"; fi
}
# podman has no daemon; its API service is started for the API figure only.
start_podman() {
	launch_daemon "$E/sock" "$E/service.log" "${PODMAN[@]}" system service --time=0 "unix://$E/sock"
}
stop_berth() { stop_daemon; }
stop_podman() { stop_daemon; }

c() {
	if [ "$ENGINE" = podman ]; then
		timeout --foreground -k 10 "$CMD_TIMEOUT" "${PODMAN[@]}" "$@"
	else
		timeout --foreground -k 10 "$CMD_TIMEOUT" "$DOCKER" "$@"
	fi
}

# vol_args PREFIX: -v PREFIX1:/v1 … for N_VOL volumes.
vol_args() {
	local j
	for ((j = 1; j <= N_VOL; j++)); do printf -- '-v\n%s%d:/v%d\n' "$1" "$j" "$j"; done
}

storage_suite() {
	ENGINE=$1
	local t0 i n R args
	trap 'log "$ENGINE: failed at line $LINENO: $BASH_COMMAND"' ERR
	"setup_$ENGINE"
	R=$T/res/$ENGINE
	log "== $ENGINE_LABEL =="
	if [ "$ENGINE" != podman ]; then "start_$ENGINE"; fi
	q import "$T/busybox.tar" busybox:latest

	# 1a. N_VOL named volumes that exist: create+start, then rm (not timed).
	log "$ENGINE: create+start with $N_VOL existing named volumes ×$N_START (+$N_WARM warm-up)"
	for ((i = 1; i <= N_VOL; i++)); do q volume create "keep$i"; done
	mapfile -t args < <(vol_args keep)
	for ((i = 0; i < N_WARM + N_START; i++)); do
		t0=${EPOCHREALTIME/./}
		q create --network none --name "vols$i" "${args[@]}" busybox true
		q start "vols$i"
		((i >= N_WARM)) && since_ms "$t0" >>"$R.vol_start.samples"
		q rm -f "vols$i"
	done
	put "$ENGINE" vol_start "$(median <"$R.vol_start.samples")"

	# 1a'. The same through the API (curl: create, start), which leaves the
	# CLI's own cost (two processes, version negotiation) out. Not podman,
	# whose API service runs only for the df figure.
	if [ "$ENGINE" != podman ]; then
		local body
		body=$(printf '%s\n' "${args[@]}" | jq -R -s -c '{Image: "busybox", Cmd: ["true"], HostConfig: {NetworkMode: "none", Binds: (split("\n") | map(select(. != "" and . != "-v")))}}')
		for ((i = 0; i < N_WARM + N_START; i++)); do
			t0=${EPOCHREALTIME/./}
			curl -sf -o /dev/null --max-time "$CMD_TIMEOUT" --unix-socket "$E/sock" -H 'Content-Type: application/json' \
				-d "$body" "http://localhost/v1.41/containers/create?name=apivols$i"
			curl -sf -o /dev/null --max-time "$CMD_TIMEOUT" --unix-socket "$E/sock" -X POST "http://localhost/v1.41/containers/apivols$i/start"
			((i >= N_WARM)) && since_ms "$t0" >>"$R.vol_start_api.samples"
			q rm -f "apivols$i"
		done
		put "$ENGINE" vol_start_api "$(median <"$R.vol_start_api.samples")"
	fi

	# 1b. The same with N_VOL new names each time: the create makes them.
	log "$ENGINE: create+start with $N_VOL new named volumes ×$N_START (+$N_WARM warm-up)"
	for ((i = 0; i < N_WARM + N_START; i++)); do
		mapfile -t args < <(vol_args "new${i}_")
		t0=${EPOCHREALTIME/./}
		q create --network none --name "newvols$i" "${args[@]}" busybox true
		q start "newvols$i"
		((i >= N_WARM)) && since_ms "$t0" >>"$R.vol_new.samples"
		if ((i == 0)); then
			n=$(c inspect -f '{{len .Mounts}}' "newvols$i")
			put "$ENGINE" vol_mounts "$n"
			[ "$n" = "$N_VOL" ] || log "$ENGINE: the container has $n mounts, want $N_VOL"
		fi
		q rm -f "newvols$i"
	done
	put "$ENGINE" vol_new "$(median <"$R.vol_new.samples")"

	# 2. N_IMAGES images, N_CONTAINERS containers created (not started).
	log "$ENGINE: $N_IMAGES images (import of tiny tars)"
	t0=${EPOCHREALTIME/./}
	for ((i = 0; i < N_IMAGES; i++)); do q import "$T/tiny/$i.tar" "tiny$i:latest"; done
	put "$ENGINE" make_images "$(echo "scale=1; $(since_ms "$t0") / 1000" | bc)"
	log "$ENGINE: $N_CONTAINERS containers (create)"
	t0=${EPOCHREALTIME/./}
	for ((i = 0; i < N_CONTAINERS; i++)); do q create --network none busybox true; done
	put "$ENGINE" make_containers "$(echo "scale=1; $(since_ms "$t0") / 1000" | bc)"
	n=$(c ps -aq | wc -l)
	put "$ENGINE" containers_n "$n"
	[ "$n" = "$N_CONTAINERS" ] || log "$ENGINE: ps -aq lists $n containers, want $N_CONTAINERS"

	log "$ENGINE: system df ×$N_DF (+1 warm-up), API and CLI"
	if [ "$ENGINE" = podman ]; then start_podman; fi
	curl -sf --max-time "$CMD_TIMEOUT" --unix-socket "$E/sock" http://localhost/v1.41/system/df >"$E/df.json"
	put "$ENGINE" df_images "$(jq '(.Images // .ImageUsage.Items // []) | length' "$E/df.json")"
	put "$ENGINE" df_containers "$(jq '(.Containers // .ContainerUsage.Items // []) | length' "$E/df.json")"
	put "$ENGINE" df_volumes "$(jq '(.Volumes // .VolumeUsage.Items // []) | length' "$E/df.json")"
	for ((i = 0; i < N_DF; i++)); do
		t0=${EPOCHREALTIME/./}
		curl -sf -o /dev/null --max-time "$CMD_TIMEOUT" --unix-socket "$E/sock" http://localhost/v1.41/system/df
		since_ms "$t0" >>"$R.df_api.samples"
	done
	put "$ENGINE" df_api "$(median <"$R.df_api.samples")"
	if [ "$ENGINE" = podman ]; then stop_podman; fi
	c system df >/dev/null
	for ((i = 0; i < N_DF; i++)); do
		t0=${EPOCHREALTIME/./}
		c system df >/dev/null
		since_ms "$t0" >>"$R.df_cli.samples"
	done
	put "$ENGINE" df_cli "$(median <"$R.df_cli.samples")"

	rm_all
	if [ "$ENGINE" != podman ]; then "stop_$ENGINE"; fi
	log "$ENGINE: done"
}

if has_engine berth; then
	build_berth || true
fi

run_suites storage_suite

row() { # label key target-text dockerd-limit
	local b d p rd rp tgt=$3 v
	b=$(fmt "$(get berth "$2")")
	d=$(fmt "$(get docker "$2")")
	p=$(fmt "$(get podman "$2")")
	rd=$(ratio "$b" "$d")
	rp=$(ratio "$b" "$p")
	v=
	[ -n "${4:-}" ] && v=$(verdict "$b" "$d" "$4")
	[ -n "$v" ] && tgt="$tgt [dockerd $v]"
	printf '%s | %s | %s | %s | %s | %s | %s\n' "$1" "$b" "$d" "$p" "$rd" "$rp" "$tgt"
}

{
	echo "# berth storage bench — $START_TS — $(uname -r), $(nproc) CPUs, load $START_LOAD at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
	echo "# dockerd: $(dockerd --version 2>/dev/null || echo n/a); podman: $(podman --version 2>/dev/null || echo n/a); runc: $(runc --version 2>/dev/null | head -1)"
	echo "# client for berthd and dockerd: $DOCKER ($("$DOCKER" --version 2>/dev/null)); podman: its own CLI (runtime ${PODMAN_RUNTIME:-runc}), its system service for the API figure"
	for e in berth docker podman; do
		s=$(get "$e" status)
		[ "$s" != - ] && echo "# $e: $s"
	done
	echo
	echo "metric | berth | dockerd | podman | berth/dockerd | berth/podman | target"
	row "create+start, $N_VOL existing named volumes (ms, median of $N_START)" vol_start "≤0.4× dockerd" 0.4
	row "create+start, $N_VOL existing named volumes, through the API (ms, median of $N_START)" vol_start_api ""
	row "create+start, $N_VOL new named volumes (ms, median of $N_START)" vol_new ""
	row "GET /system/df, $N_IMAGES images + $N_CONTAINERS containers (ms, median of $N_DF)" df_api "≤0.4× dockerd" 0.4
	row "system df through the CLI (ms, median of $N_DF)" df_cli ""
	echo
	echo "extra | berth | dockerd | podman"
	for k in vol_mounts:"mounts of the volume container (want $N_VOL)" make_images:"import of $N_IMAGES tiny images (s)" \
		make_containers:"create of $N_CONTAINERS containers (s)" containers_n:"containers listed (want $N_CONTAINERS)" \
		df_images:"images in /system/df" df_containers:"containers in /system/df" df_volumes:"volumes in /system/df"; do
		printf '%s | %s | %s | %s\n' "${k#*:}" "$(fmt "$(get berth "${k%%:*}")")" "$(fmt "$(get docker "${k%%:*}")")" "$(fmt "$(get podman "${k%%:*}")")"
	done
	echo
	echo "samples:"
	for f in "$T"/res/*.samples; do
		[ -e "$f" ] || continue
		printf '  %s: %s\n' "$(basename "$f" .samples)" "$(tr '\n' ' ' <"$f")"
	done
} >"$T/table.txt"

mkdir -p "$RESULTS_DIR"
cp "$T/table.txt" "$RESULTS_DIR/storage-latest.txt"
echo
cat "$T/table.txt"
log "written to $RESULTS_DIR/storage-latest.txt"
