#!/usr/bin/env bash
# bench/distribution.sh — issue 7's figures: push and pull of a 500 MB image of
# 10 layers, berthd vs Debian's dockerd vs podman, with `skopeo copy` as the
# floor, all against one local registry on 127.0.0.1 (plain HTTP). A benchmark:
# not part of CI (it exits at once when CI=true).
#
#   sudo bash bench/distribution.sh
#
# Per engine: load the image (a docker-archive made here), tag it
# 127.0.0.1:PORT/bench/<engine>:latest, then N_ROUNDS+1 rounds of
#   empty the registry; push (timed); remove the image locally; pull (timed)
# where the first round is a warm-up (its figures are shown apart: it pushes the
# image as `load` stored it; every later round pushes the image as the engine's
# own pull stored it, which is what a re-push of a pulled or built image does).
# The daemon's CPU time (utime+stime, and its waited-for children, from
# /proc/PID/stat) is read around every push and pull: berthd; dockerd plus the
# containerd it runs; podman and skopeo have no daemon, so theirs is the CPU
# time of the command itself (bash's `time`: the process and its children).
#
# Environment (all optional):
#   ENGINES="berth docker podman"  SKOPEO=1 (0: no skopeo floor)
#   N_ROUNDS=3 (timed rounds, after one warm-up)  N_LAYERS=10 LAYER_MB=50 (MB = 10^6 bytes)
#   REGISTRY=debian (Debian's docker-registry, distribution 2.8) | berth (berth-registry, built here)
#   REG_PORT (default: a free port from 15000 up)
#   DOCKER=/usr/local/bin/docker  BENCH_TMP=/tmp  KEEP=1 (keep the temp dir)
#   INSTALL=0 (do not apt-get install what is missing)  CMD_TIMEOUT=600 PING_TIMEOUT=60
set -uo pipefail

if [ "${CI:-}" = true ]; then
	echo "bench/distribution.sh: a benchmark; not run in CI" >&2
	exit 0
fi

ENGINES=${ENGINES:-"berth docker podman"}
SKOPEO=${SKOPEO:-1}
N_ROUNDS=${N_ROUNDS:-3}
N_LAYERS=${N_LAYERS:-10}
LAYER_MB=${LAYER_MB:-50}
REGISTRY=${REGISTRY:-debian}
REG_PORT=${REG_PORT:-}
DOCKER=${DOCKER:-/usr/local/bin/docker}
BENCH_TMP=${BENCH_TMP:-/tmp}
KEEP=${KEEP:-0}
INSTALL=${INSTALL:-1}
CMD_TIMEOUT=${CMD_TIMEOUT:-600}
PING_TIMEOUT=${PING_TIMEOUT:-60}
CRUN_OK=0 # no container runs here; podman's runtime is never used

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=$REPO/bench/results
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

START_TS=$(date -u +%Y-%m-%dT%H:%M:%SZ)
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
trap '' PIPE

[ "$(id -u)" = 0 ] || die "run as root: sudo bash bench/distribution.sh"
check_engines
case $REGISTRY in debian | berth) ;; *) die "REGISTRY=$REGISTRY: debian or berth" ;; esac
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------
# Packages (policy-rc.d keeps docker-registry's and docker's services off).
# ---------------------------------------------------------------------------
need_pkgs=()
has_engine docker && ! command -v dockerd >/dev/null && need_pkgs+=(docker.io)
has_engine podman && ! command -v podman >/dev/null && need_pkgs+=(podman)
[ "$SKOPEO" = 1 ] && ! command -v skopeo >/dev/null && need_pkgs+=(skopeo)
[ "$REGISTRY" = debian ] && ! command -v docker-registry >/dev/null && need_pkgs+=(docker-registry)
for p in jq curl; do command -v "$p" >/dev/null || need_pkgs+=("$p"); done
install_pkgs "${need_pkgs[@]}"
check_clients

# ---------------------------------------------------------------------------
# Temp dir and cleanup (bench/lib.sh: daemons by recorded PID, mounts, litter).
# ---------------------------------------------------------------------------
bench_init_tmp bd
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "$REG_PORT" ]; then
	for ((REG_PORT = 15000; REG_PORT < 15100; REG_PORT++)); do
		ss -Hltn "sport = :$REG_PORT" 2>/dev/null | grep -q . || break
	done
fi
REG=127.0.0.1:$REG_PORT

# ---------------------------------------------------------------------------
# Binaries.
# ---------------------------------------------------------------------------
if has_engine berth || [ "$REGISTRY" = berth ]; then
	extra=()
	[ "$REGISTRY" = berth ] && extra=(./cmd/berth-registry)
	build_berth "${extra[@]}" || {
		[ "$REGISTRY" = berth ] && die "berth-registry does not build"
	}
fi

# ---------------------------------------------------------------------------
# The registry: one for all, storage under $T/reg, no blob-descriptor cache,
# emptied (stopped, storage removed, started) before every push.
# ---------------------------------------------------------------------------
REG_PID=
cat >"$T/reg.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $T/reg
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $REG
EOF
start_registry() {
	local bin=docker-registry i
	[ "$REGISTRY" = berth ] && bin=$T/bin/berth-registry
	setsid "$bin" serve "$T/reg.yml" >>"$T/registry.log" 2>&1 </dev/null &
	REG_PID=$!
	record_daemon "$REG_PID"
	for ((i = 0; i < PING_TIMEOUT * 20; i++)); do
		curl -sf -o /dev/null --max-time 2 "http://$REG/v2/" && return 0
		alive "$REG_PID" || break
		sleep 0.05
	done
	log "registry did not answer on http://$REG/v2/:"
	tail -10 "$T/registry.log" >&2
	return 1
}
empty_registry() {
	[ -n "$REG_PID" ] && stop_pid "$REG_PID" 20
	rm -rf "$T/reg"
	start_registry
}
# registry_layers REPO: "<total layer bytes> <layer media types>" of REPO:latest.
registry_layers() {
	curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' \
		"http://$REG/v2/$1/manifests/latest" |
		jq -r '"\([.layers[].size] | add) \([.layers[].mediaType] | unique | map(sub("application/vnd\\."; "")) | join(","))"'
}
start_registry || die "the registry does not start"
log "registry: $REGISTRY on http://$REG/"

# ---------------------------------------------------------------------------
# The image: N_LAYERS layers, each one file of LAYER_MB MB from /dev/urandom
# (incompressible: gzip leaves it as large, and costs what it costs on data
# that does not compress), as a docker-archive (`docker save`'s format, which
# all three load) whose layer tars are gzip-compressed (gzip -1), so that
# every engine pushes and pulls gzip layers: dockerd and podman unpack a layer
# on load and compress it again on every push (what they do with any image);
# berthd keeps the compressed blob it was given and pushes it as it is (what
# it does with pulled, built and imported images too). With plain layer tars
# berthd would push them uncompressed, and its pulls would then move bytes
# the others' do not gunzip: not the same work.
# ---------------------------------------------------------------------------
make_image() {
	local A=$T/archive i d diff diffs=() layers=() hist=() cfg
	mkdir -p "$A"
	for ((i = 0; i < N_LAYERS; i++)); do
		d=$T/layer$i
		mkdir -p "$d/data"
		head -c $((LAYER_MB * 1000000)) /dev/urandom >"$d/data/blob$i" || return 1
		tar -C "$d" --numeric-owner --owner=0 --group=0 --mtime=@0 -cf "$A/layer$i.tar" . || return 1
		rm -rf "$d"
		diff=$(sha256sum "$A/layer$i.tar" | cut -d' ' -f1)
		mkdir -p "$A/$diff"
		gzip -1 -n -c "$A/layer$i.tar" >"$A/$diff/layer.tar" || return 1
		rm -f "$A/layer$i.tar"
		diffs+=("\"sha256:$diff\"")
		layers+=("\"$diff/layer.tar\"")
		hist+=("{\"created\":\"2026-01-01T00:00:00Z\",\"created_by\":\"bench layer $i\"}")
	done
	cfg=$(
		IFS=,
		printf '{"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[%s]}' "${diffs[*]}" "${hist[*]}"
	)
	printf '%s' "$cfg" >"$A/config.json"
	local cid
	cid=$(sha256sum "$A/config.json" | cut -d' ' -f1)
	mv "$A/config.json" "$A/$cid.json"
	(
		IFS=,
		printf '[{"Config":"%s.json","RepoTags":["bench/big:latest"],"Layers":[%s]}]' "$cid" "${layers[*]}"
	) >"$A/manifest.json"
	tar -C "$A" -cf "$T/big.tar" . || return 1
	rm -rf "$A"
}
log "making a $((N_LAYERS * LAYER_MB)) MB image of $N_LAYERS layers (random data)"
make_image || die "making the image failed"

# ---------------------------------------------------------------------------
# Engines: lib.sh's setup_<e> (roots, socket, client), with the registry
# marked insecure for each: berthd's daemon.json insecure-registries (it
# treats loopback as insecure anyway), dockerd's --insecure-registry, podman's
# own registries.conf (CONTAINERS_REGISTRIES_CONF), skopeo's --*-tls-verify=false.
# No container runs: dockerd gets no bridge, no iptables.
# ---------------------------------------------------------------------------
start_berth() {
	echo "{\"insecure-registries\": [\"$REG\"]}" >"$E/daemon.json"
	launch_daemon "$E/sock" "$E/daemon.log" env PATH="$T/bin:$PATH" "$T/bin/berthd" \
		--config-file "$E/daemon.json" --data-root "$E/data" --exec-root "$X" \
		--pidfile "$E/pid" -H "unix://$E/sock"
}
start_docker() {
	launch_daemon "$E/sock" "$E/daemon.log" dockerd \
		--config-file "$E/daemon.json" --data-root "$E/data" --exec-root "$X" \
		--pidfile "$E/pid" -H "unix://$E/sock" \
		--bridge=none --iptables=false --ip6tables=false --insecure-registry "$REG"
	local p
	p=$(containerd_pid)
	if [ -n "$p" ]; then record_daemon "$p"; fi
}
podman_conf() {
	printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$REG" >"$E/registries.conf"
	export CONTAINERS_REGISTRIES_CONF=$E/registries.conf
}

# c: the engine's client, bounded by CMD_TIMEOUT.
c() {
	if [ "$ENGINE" = podman ]; then
		timeout --foreground -k 10 "$CMD_TIMEOUT" "${PODMAN[@]}" "$@"
	else
		timeout --foreground -k 10 "$CMD_TIMEOUT" "$DOCKER" "$@"
	fi
}

# engine_pids: the processes whose CPU time is the engine's (none: podman).
engine_pids() {
	case $ENGINE in
	berth) echo "$DPID" ;;
	docker) echo "$DPID $(containerd_pid)" ;;
	esac
}
# cpu_ticks PID…: utime+stime+cutime+cstime summed, in clock ticks.
cpu_ticks() {
	local p sum=0 t
	for p in "$@"; do
		t=$(awk '{sub(/^.*\) /, ""); print $12 + $13 + $14 + $15}' "/proc/$p/stat" 2>/dev/null) || t=0
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# measure KEY cmd…: run cmd (output in $E/cmd.out, shown when it fails) and
# append to <engine>.KEY.samples the wall time (s), to KEY_cpu the engine's
# CPU seconds (daemon PIDs' delta; podman, skopeo: the command's own), to
# KEY_cli the command's own CPU seconds, and to KEY_load the 1-minute load
# average when it started.
measure() {
	local key=$1 rc=0 before after t0 cli pids
	shift
	pids=$(engine_pids)
	cut -d' ' -f1 /proc/loadavg >>"$R.${key}_load.samples"
	# shellcheck disable=SC2086
	before=$(cpu_ticks $pids)
	t0=${EPOCHREALTIME/./}
	{
		TIMEFORMAT='%3U %3S'
		time "$@" >"$E/cmd.out" 2>&1
	} 2>"$E/time.out" || rc=$?
	echo "scale=2; (${EPOCHREALTIME/./} - $t0) / 1000000" | bc | sed 's/^\./0./' >>"$R.$key.samples"
	# shellcheck disable=SC2086
	after=$(cpu_ticks $pids)
	cli=$(awk '{printf "%.2f", $1 + $2}' "$E/time.out")
	echo "$cli" >>"$R.${key}_cli.samples"
	if [ -n "$pids" ]; then
		echo "scale=2; ($after - $before) / $CLK_TCK" | bc | sed 's/^\./0./' >>"$R.${key}_cpu.samples"
	else
		echo "$cli" >>"$R.${key}_cpu.samples"
	fi
	if [ $rc != 0 ]; then
		log "$ENGINE: '$*' failed (exit $rc):"
		tail -5 "$E/cmd.out" >&2
	fi
	return $rc
}

# data_mb: the engine's store on disk (MB), to show a removed image left nothing.
data_mb() {
	case $ENGINE in
	podman) du -sm "$E/root" | cut -f1 ;;
	skopeo) du -sm "$E/root" 2>/dev/null | cut -f1 ;;
	*) du -sm "$E/data" | cut -f1 ;;
	esac
}

# finish KEY: the median of KEY's timed rounds (the warm-up's figure apart).
finish() {
	local k
	for k in "$1" "$1_cpu" "$1_cli" "$1_load"; do
		[ -s "$R.$k.samples" ] || continue
		head -1 "$R.$k.samples" >"$R.$k.warm"
		tail -n +2 "$R.$k.samples" >"$R.$k.timed"
		mv "$R.$k.timed" "$R.$k.samples"
		put "$ENGINE" "$k" "$(median <"$R.$k.samples")"
		put "$ENGINE" "${k}_warm" "$(cat "$R.$k.warm")"
		rm -f "$R.$k.warm"
	done
}

dist_suite() {
	ENGINE=$1
	local t0 r ref gone
	trap 'log "$ENGINE: failed at line $LINENO: $BASH_COMMAND"' ERR
	"setup_$ENGINE"
	R=$T/res/$ENGINE
	log "== $ENGINE_LABEL =="
	if [ "$ENGINE" = podman ]; then
		podman_conf
	else
		"start_$ENGINE"
	fi
	ref=$REG/bench/$ENGINE:latest

	log "$ENGINE: load the image"
	t0=${EPOCHREALTIME/./}
	q load -i "$T/big.tar"
	put "$ENGINE" load "$(echo "scale=2; (${EPOCHREALTIME/./} - $t0) / 1000000" | bc | sed 's/^\./0./')"
	q tag bench/big:latest "$ref"
	q rmi bench/big:latest

	for ((r = 0; r <= N_ROUNDS; r++)); do
		empty_registry
		log "$ENGINE: round $r$([ $r = 0 ] && echo ' (warm-up)'): push"
		measure push c push "$ref"
		[ $r = 0 ] && put "$ENGINE" pushed "$(registry_layers "bench/$ENGINE")"
		q rmi "$ref"
		gone=0
		c image inspect "$ref" >/dev/null 2>&1 || gone=1
		[ "$gone" = 1 ] || {
			log "$ENGINE: the image is still there after rmi"
			return 1
		}
		echo "$(data_mb)" >>"$R.data_after_rmi.samples"
		log "$ENGINE: round $r: pull"
		measure pull c pull "$ref"
		c image inspect "$ref" >/dev/null
	done
	finish push
	finish pull
	put "$ENGINE" data_after_rmi "$(sort -n "$R.data_after_rmi.samples" | tail -1)"
	put "$ENGINE" pulled_bytes "$(registry_layers "bench/$ENGINE" | cut -d' ' -f1)"
	[ "$ENGINE" = podman ] || "stop_$ENGINE"
	log "$ENGINE: done"
}
stop_berth() { stop_daemon; }

# skopeo: the floor. Its source is a dir: of the image with gzip layers
# (skopeo --dest-compress from the same archive); push = dir: → docker://,
# pull = docker:// → dir: (transfer and verify only) and docker:// →
# containers-storage: (overlay, under $T: fetch, verify, unpack, as the engines).
skopeo_suite() {
	ENGINE=skopeo
	E=$T/skopeo
	R=$T/res/skopeo
	mkdir -p "$E"
	local r ref=docker://$REG/bench/skopeo:latest store
	trap 'log "skopeo: failed at line $LINENO: $BASH_COMMAND"' ERR
	log "== skopeo =="
	q_sk() { timeout --foreground -k 10 "$CMD_TIMEOUT" skopeo "$@"; }
	q_sk copy -q --dest-compress docker-archive:"$T/big.tar" dir:"$E/src" >"$E/prep.out" 2>&1 || {
		tail -5 "$E/prep.out" >&2
		return 1
	}
	store="containers-storage:[overlay@$E/root+$E/run]bench/skopeo:latest"
	for ((r = 0; r <= N_ROUNDS; r++)); do
		empty_registry
		log "skopeo: round $r$([ $r = 0 ] && echo ' (warm-up)'): dir: → docker://, docker:// → dir:, docker:// → containers-storage:"
		measure push q_sk copy --dest-tls-verify=false dir:"$E/src" "$ref"
		[ $r = 0 ] && put skopeo pushed "$(registry_layers bench/skopeo)"
		rm -rf "$E/dir"
		measure pull_dir q_sk copy --src-tls-verify=false "$ref" dir:"$E/dir"
		umount_under_T
		rm -rf "$E/root" "$E/run"
		echo 0 >>"$R.data_after_rmi.samples"
		measure pull q_sk copy --src-tls-verify=false "$ref" "$store"
	done
	umount_under_T
	finish push
	finish pull
	finish pull_dir
	put skopeo pulled_bytes "$(registry_layers bench/skopeo | cut -d' ' -f1)"
	log "skopeo: done"
}

run_suites dist_suite
if [ "$SKOPEO" = 1 ]; then
	(
		set -eE
		trap 'exit 130' INT
		trap 'exit 143' TERM
		skopeo_suite
	) || {
		rc=$?
		if [ $rc = 130 ] || [ $rc = 143 ]; then exit $rc; fi
		log "skopeo failed (exit $rc); its figures show as '-'"
		put skopeo status "failed (exit $rc); see the run's log"
	}
fi

# ---------------------------------------------------------------------------
# Table. Targets from issue 7: pull ≤ 0.5× dockerd, push ≤ 0.6× dockerd, both
# within 1.5× skopeo.
# ---------------------------------------------------------------------------
# per_gb SECONDS BYTES → seconds per 10^9 bytes
per_gb() {
	if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ]; then
		echo "scale=2; $1 * 1000000000 / $2" | bc | sed 's/^\./0./'
	else
		echo "-"
	fi
}
for e in berth docker podman skopeo; do
	put "$e" pull_cpu_gb "$(per_gb "$(get "$e" pull_cpu)" "$(get "$e" pulled_bytes)")"
	put "$e" push_cpu_gb "$(per_gb "$(get "$e" push_cpu)" "$(get "$e" pulled_bytes)")"
done

# drow LABEL KEY [DOCKERD-LIMIT [SKOPEO-LIMIT [SKOPEO-KEY]]]: berth against
# the others; the limits judge berth/dockerd and berth/skopeo.
drow() {
	local b d p s rd rp rs tgt="" v1= v2=
	b=$(fmt "$(get berth "$2")")
	d=$(fmt "$(get docker "$2")")
	p=$(fmt "$(get podman "$2")")
	s=$(fmt "$(get skopeo "${5:-$2}")")
	rd=$(ratio "$b" "$d")
	rp=$(ratio "$b" "$p")
	rs=$(ratio "$b" "$s")
	if [ -n "${3:-}" ]; then
		v1=$(verdict "$b" "$d" "$3")
		tgt="≤$3× dockerd${v1:+ [$v1]}"
	fi
	if [ -n "${4:-}" ]; then
		v2=$(verdict "$b" "$s" "$4")
		tgt="$tgt${tgt:+, }≤$4× skopeo${v2:+ [$v2]}"
	fi
	printf '%s | %s | %s | %s | %s | %s | %s | %s | %s\n' "$1" "$b" "$d" "$p" "$s" "$rd" "$rp" "$rs" "$tgt"
}

MB=$((N_LAYERS * LAYER_MB))
{
	echo "# berth distribution bench — $START_TS — $(uname -r), $(nproc) CPUs, load $START_LOAD at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
	echo "# image: $N_LAYERS layers × $LAYER_MB MB of /dev/urandom (one file each), a docker-archive loaded into each engine"
	echo "# registry: $([ "$REGISTRY" = berth ] && echo "berth-registry (this tree)" || docker-registry --version 2>/dev/null | head -1) on http://$REG (plain HTTP, filesystem storage under the temp dir, emptied before every push)"
	echo "# dockerd: $(dockerd --version 2>/dev/null || echo n/a); podman: $(podman --version 2>/dev/null || echo n/a); skopeo: $(skopeo --version 2>/dev/null || echo n/a); client for berthd and dockerd: $("$DOCKER" --version 2>/dev/null)"
	for e in berth docker podman skopeo; do
		s=$(get "$e" status)
		[ "$s" != - ] && echo "# $e: $s"
	done
	for e in berth docker podman; do
		has_engine "$e" || echo "# $e: not measured (ENGINES)"
	done
	echo
	echo "metric | berth | dockerd | podman | skopeo | berth/dockerd | berth/podman | berth/skopeo | target"
	drow "push of $MB MB, $N_LAYERS layers (s, median of $N_ROUNDS; skopeo: dir: → docker://)" push 0.6 1.5
	drow "pull of $MB MB, $N_LAYERS layers (s, median of $N_ROUNDS; skopeo: docker:// → containers-storage:)" pull 0.5 1.5
	drow "pull, against skopeo docker:// → dir: (transfer and verify only; s, median of $N_ROUNDS)" pull "" 1.5 pull_dir
	drow "engine CPU during pull (s, median; berthd; dockerd+containerd; podman, skopeo: the command)" pull_cpu
	drow "engine CPU per GB pulled (s/GB; GB = 10^9 bytes of layers on the registry)" pull_cpu_gb
	drow "engine CPU during push (s, median)" push_cpu
	drow "engine CPU per GB pushed (s/GB)" push_cpu_gb
	echo
	echo "extra | berth | dockerd | podman | skopeo"
	for k in load:"load -i of the archive (s, 1 sample)" pushed:"on the registry after the warm-up push: layer bytes, media types" \
		push_warm:"warm-up push of the image as \`load\` stored it (s)" pull_warm:"warm-up pull (s)" \
		push_cli:"client CPU during push (s, median; docker CLI for berthd and dockerd)" pull_cli:"client CPU during pull (s, median)" \
		data_after_rmi:"store on disk after rmi, before each pull (MB, largest)" \
		push_load:"1-minute load average at each push (median)" pull_load:"1-minute load average at each pull (median)"; do
		printf '%s | %s | %s | %s | %s\n' "${k#*:}" "$(fmt "$(get berth "${k%%:*}")")" "$(fmt "$(get docker "${k%%:*}")")" \
			"$(fmt "$(get podman "${k%%:*}")")" "$(fmt "$(get skopeo "${k%%:*}")")"
	done
	echo
	echo "samples (warm-up round not included):"
	for f in "$T"/res/*.samples; do
		[ -e "$f" ] || continue
		printf '  %s: %s\n' "$(basename "$f" .samples)" "$(tr '\n' ' ' <"$f")"
	done
} >"$T/table.txt"

mkdir -p "$RESULTS_DIR"
cp "$T/table.txt" "$RESULTS_DIR/distribution-latest.txt"
echo
cat "$T/table.txt"
log "written to $RESULTS_DIR/distribution-latest.txt"
