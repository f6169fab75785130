#!/usr/bin/env bash
# bench/run.sh — berthd vs Debian's dockerd vs podman, side by side, in one run.
#
#   sudo bash bench/run.sh
#
# Environment (all optional):
#   ENGINES="berth docker podman"   which engines to measure (any subset, any order)
#   N_RUN=20 N_WARM=2               samples / warm-ups for `run --rm busybox true`
#   N_BATCH=50                      containers in the create+start batch
#   N_PS=200 N_PS_SAMPLES=10        containers present for `ps -a`, samples
#   N_RSS=10                        running containers for the per-container RSS
#   N_RESTART=5                     daemon restarts for start-to-first-ping
#   LOG_LINES=1000000 N_LOGS=3      lines written by `seq`, samples of `logs`
#   BIG_MB=200 N_SAVE=3             size of the big image, samples of save/load
#   N_EXEC=20                       samples of `exec CONTAINER true` (after N_WARM)
#   N_STATS=50 N_STATS_SAMPLES=5    running containers for `stats --no-stream`, sets
#   STATS_WATCH_S=2                 gap before the watch-style repeated `stats`
#   N_RESTARTS=5 RESTART_TIMEOUT=30 crashing --restart always containers, wait for each
#   DOCKER=/usr/local/bin/docker    client used for berthd and dockerd
#   BENCH_TMP=/tmp                  where the per-run temp dir is made
#   KEEP=1                          keep the temp dir (logs, roots) for a post-mortem
#   INSTALL=0                       do not apt-get install missing docker.io/podman
#
# Every engine gets its own data root, exec root, socket and pidfile under one temp
# dir; each engine's daemon runs alone (the previous one is stopped first), is
# stopped by the PID this script started, and everything under the temp dir is
# unmounted and removed on exit, also on failure or Ctrl-C.
# Podman is driven by its own CLI (`podman --root … --runroot …`), the way users
# run it; its `system service` is started only for idle RSS and start-to-ping.
set -uo pipefail

ENGINES=${ENGINES:-"berth docker podman"}
N_RUN=${N_RUN:-20}
N_WARM=${N_WARM:-2}
N_BATCH=${N_BATCH:-50}
N_PS=${N_PS:-200}
N_PS_SAMPLES=${N_PS_SAMPLES:-10}
N_RSS=${N_RSS:-10}
N_RESTART=${N_RESTART:-5}
LOG_LINES=${LOG_LINES:-1000000}
N_LOGS=${N_LOGS:-3}
BIG_MB=${BIG_MB:-200}
N_SAVE=${N_SAVE:-3}
DOCKER=${DOCKER:-/usr/local/bin/docker}
BENCH_TMP=${BENCH_TMP:-/tmp}
KEEP=${KEEP:-0}
INSTALL=${INSTALL:-1}
CMD_TIMEOUT=${CMD_TIMEOUT:-120} # seconds, any single engine command
PING_TIMEOUT=${PING_TIMEOUT:-60} # seconds, daemon start to first ping

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# logging, daemons, cleanup, statistics, engine setup: shared with the other benches
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
# issue 4's figures: exec, stats, restart policy (defaults of their knobs too)
# shellcheck source=bench/lifecycle.sh
. "$REPO/bench/lifecycle.sh"
RESULTS_DIR=$REPO/bench/results
START_TS=$(date -u +%Y-%m-%dT%H:%M:%SZ)
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# A closed stdout/stderr (run.sh | head) must not kill the run half-way.
trap '' PIPE

[ "$(id -u)" = 0 ] || die "run as root: sudo bash bench/run.sh"
check_engines

# ---------------------------------------------------------------------------
# Packages. policy-rc.d keeps Debian's docker/containerd services from starting.
# ---------------------------------------------------------------------------
need_pkgs=()
has_engine docker && ! command -v dockerd >/dev/null && need_pkgs+=(docker.io)
has_engine podman && ! command -v podman >/dev/null && need_pkgs+=(podman)
command -v busybox >/dev/null || [ -x /bin/busybox ] || need_pkgs+=(busybox-static)
command -v jq >/dev/null || need_pkgs+=(jq)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v runc >/dev/null || need_pkgs+=(runc)
install_pkgs "${need_pkgs[@]}"
check_clients

# ---------------------------------------------------------------------------
# Temp dir and cleanup (bench/lib.sh). The bare runc container of the exec
# reference is deleted too.
# ---------------------------------------------------------------------------
bench_init_tmp bb
cleanup_runc() { runc --root "$T/state-runc" delete -f bench-exec >/dev/null 2>&1; }
CLEANUP_HOOK=cleanup_runc
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Images: a busybox rootfs from Debian's busybox-static, and a ~BIG_MB image.
# ---------------------------------------------------------------------------
make_busybox_tar

log "making a ${BIG_MB} MB image tar"
BIGROOT=$T/bigroot
cp -a "$ROOTFS" "$BIGROOT"
mkdir -p "$BIGROOT/data"
for ((i = 0; i < BIG_MB / 10; i++)); do
	head -c $((10 * 1024 * 1024)) /dev/urandom >"$BIGROOT/data/blob$i" || die "random data"
done
tar -C "$BIGROOT" --numeric-owner --owner=0 --group=0 -cf "$T/big.tar" . || die "tar big"
rm -rf "$BIGROOT"

# ---------------------------------------------------------------------------
# Reference: bare runc/crun run of the same rootfs (network namespace, no
# network: like --network none).
# ---------------------------------------------------------------------------
bare_runtime() { # runtime [global flags…]
	local rt=$1
	shift
	local b=$T/bundle state=$T/state-$rt out i t0 t1
	mkdir -p "$state"
	out=$("$rt" --root "$state" "$@" run --bundle "$b" "bench-probe" </dev/null 2>&1)
	if [ $? != 0 ]; then
		put ref "$rt.err" "$(echo "$out" | tail -1)"
		log "bare $rt fails here: $(echo "$out" | tail -1)"
		return 1
	fi
	for ((i = 0; i < N_WARM + N_RUN; i++)); do
		t0=${EPOCHREALTIME/./}
		"$rt" --root "$state" "$@" run --bundle "$b" "bench-$i" </dev/null >/dev/null 2>&1 || return 1
		t1=${EPOCHREALTIME/./}
		((i >= N_WARM)) && echo "scale=1; ($t1 - $t0) / 1000" | bc >>"$T/res/ref.$rt.samples"
	done
	put ref "$rt" "$(median <"$T/res/ref.$rt.samples")"
}
mkdir -p "$T/bundle"
(cd "$T/bundle" && runc spec) || die "runc spec"
jq --arg root "$ROOTFS" '.process.args=["true"] | .process.terminal=false | .root.path=$root | .hostname="bench"' \
	"$T/bundle/config.json" >"$T/bundle/c.json" && mv "$T/bundle/c.json" "$T/bundle/config.json"
log "bare runc run"
bare_runtime runc
log "bare runc exec"
bare_runc_exec || log "bare runc exec fails here: $(get ref runc_exec.err)"
CRUN_OK=0
if command -v crun >/dev/null; then
	log "bare crun run"
	bare_runtime crun && CRUN_OK=1
fi

# ---------------------------------------------------------------------------
# Engines. Each defines: start_<e> (sets DPID, returns after first ping, puts
# the start-to-ping time in ms in PING_MS), stop_<e>, c (the client), shim_exe
# and <e>_rss_kb (the daemon's RSS in KiB); setup_<e> and the helpers are in
# bench/lib.sh.
# ---------------------------------------------------------------------------
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

start_podman() {
	launch_daemon "$E/sock" "$E/service.log" "${PODMAN[@]}" system service --time=0 "unix://$E/sock"
}

# c: the engine's client, bounded by CMD_TIMEOUT.
c() {
	if [ "$ENGINE" = podman ]; then
		timeout --foreground -k 10 "$CMD_TIMEOUT" "${PODMAN[@]}" "$@"
	else
		timeout --foreground -k 10 "$CMD_TIMEOUT" "$DOCKER" "$@"
	fi
}

# ---------------------------------------------------------------------------
# The suite, per engine. Runs in a subshell with `set -e`; a failing step ends
# that engine's suite (its missing figures show as "-") and the others go on.
# ---------------------------------------------------------------------------
suite() {
	ENGINE=$1
	local t0 i id n sum pids s
	trap 'log "$ENGINE: failed at line $LINENO: $BASH_COMMAND"' ERR
	"setup_$ENGINE"
	local R=$T/res/$ENGINE
	log "== $ENGINE_LABEL =="

	if [ "$ENGINE" != podman ]; then
		"start_$ENGINE"
		put "$ENGINE" first_start_ms "$PING_MS"
		log "$ENGINE: first start (empty root) to ping ${PING_MS} ms"
	fi

	log "$ENGINE: import busybox"
	q import "$T/busybox.tar" busybox:latest
	out=$(c run --rm --network none busybox echo hello 2>&1) || {
		log "$ENGINE: smoke test failed: $out"
		return 1
	}
	[ "$out" = hello ] || {
		log "$ENGINE: smoke test printed '$out', want 'hello'"
		return 1
	}

	# The client's own floor: one round trip (`version`), median of N_RUN.
	for ((i = 0; i < N_WARM + N_RUN; i++)); do
		t0=${EPOCHREALTIME/./}
		q version
		((i >= N_WARM)) && since_ms "$t0" >>"$R.version.samples"
	done
	put "$ENGINE" version "$(median <"$R.version.samples")"

	# 1. run --rm busybox true, network none.
	log "$ENGINE: run --rm ×$N_RUN (+$N_WARM warm-up)"
	for ((i = 0; i < N_WARM + N_RUN; i++)); do
		t0=${EPOCHREALTIME/./}
		q run --rm --network none busybox true
		((i >= N_WARM)) && since_ms "$t0" >>"$R.run_rm.samples"
	done
	put "$ENGINE" run_rm "$(median <"$R.run_rm.samples")"

	# 2. N_BATCH × create + start of `sleep 600`, wall time for the batch.
	log "$ENGINE: $N_BATCH × create+start"
	t0=${EPOCHREALTIME/./}
	for ((i = 0; i < N_BATCH; i++)); do
		q create --network none --name "batch$i" busybox sleep 600
		q start "batch$i"
	done
	since_ms "$t0" >"$R.batch.samples"
	put "$ENGINE" batch "$(echo "scale=2; $(cat "$R.batch.samples") / 1000" | bc)"
	n=$(c ps -q | wc -l)
	[ "$n" -ge "$N_BATCH" ] || log "$ENGINE: only $n of $N_BATCH batch containers running"

	# exec, stats over the batch's containers (and fresh sets), restart policy;
	# see bench/lifecycle.sh. Removes every container at the end.
	lifecycle_suite

	# 5. RSS added per running container: its shim / conmon processes.
	log "$ENGINE: RSS of $N_RSS running containers' $SHIM_DESC"
	for ((i = 0; i < N_RSS; i++)); do
		q run -d --network none busybox sleep 600
	done
	case $ENGINE in
	berth) pids=$(berth_shims) ;;
	docker) pids=$(pids_cmdline /containerd-shim-runc-v2) ;;
	podman) pids=$(pids_cmdline /conmon) ;;
	esac
	n=0 sum=0 pss=0
	for p in $pids; do
		s=$(rss_kb "$p")
		echo "$p:$s" >>"$R.percont.samples"
		sum=$((sum + s)) n=$((n + 1)) pss=$((pss + $(pss_kb "$p")))
	done
	put "$ENGINE" percont_n "$n"
	[ "$n" = "$N_RSS" ] || log "$ENGINE: found $n $SHIM_DESC processes for $N_RSS containers"
	put "$ENGINE" percont "$(echo "scale=2; $sum / $N_RSS / 1024" | bc)"
	put "$ENGINE" percont_pss "$(echo "scale=2; $pss / $N_RSS / 1024" | bc)"
	if [ "$ENGINE" != podman ]; then
		put "$ENGINE" rss_with_containers "$(echo "scale=1; $("${ENGINE}_rss_kb") / 1024" | bc)"
	fi
	rm_all

	# 7. logs of LOG_LINES lines.
	log "$ENGINE: logs of $LOG_LINES lines"
	q run -d --network none --name logs busybox seq "$LOG_LINES"
	q wait logs
	n=$(c logs logs 2>/dev/null | wc -l)
	put "$ENGINE" logs_lines "$n"
	[ "$n" = "$LOG_LINES" ] || log "$ENGINE: logs printed $n lines, want $LOG_LINES"
	for ((i = 0; i < N_LOGS; i++)); do
		t0=${EPOCHREALTIME/./}
		c logs logs >/dev/null 2>&1
		since_ms "$t0" >>"$R.logs.samples"
	done
	put "$ENGINE" logs "$(median <"$R.logs.samples")"
	# The same through the raw API (curl), to split the daemon's share from the
	# client's demultiplexing.
	if [ "$ENGINE" != podman ]; then
		for ((i = 0; i < N_LOGS; i++)); do
			t0=${EPOCHREALTIME/./}
			curl -sf -o /dev/null --max-time "$CMD_TIMEOUT" --unix-socket "$E/sock" \
				"http://localhost/containers/logs/logs?stdout=1&stderr=1"
			since_ms "$t0" >>"$R.logs_api.samples"
		done
		put "$ENGINE" logs_api "$(median <"$R.logs_api.samples")"
	fi
	q rm -f logs

	# 3. ps -a with N_PS containers (created, not started).
	log "$ENGINE: create $N_PS containers, ps -a ×$N_PS_SAMPLES"
	for ((i = 0; i < N_PS; i++)); do
		q create --network none busybox true
	done
	n=$(c ps -aq | wc -l)
	[ "$n" = "$N_PS" ] || log "$ENGINE: ps -aq lists $n containers, want $N_PS"
	c ps -a >/dev/null # warm-up
	for ((i = 0; i < N_PS_SAMPLES; i++)); do
		t0=${EPOCHREALTIME/./}
		c ps -a >/dev/null
		since_ms "$t0" >>"$R.ps.samples"
	done
	put "$ENGINE" ps "$(median <"$R.ps.samples")"
	rm_all

	# 8. save / load of a ~BIG_MB image.
	log "$ENGINE: import, save, load of a ${BIG_MB} MB image"
	t0=${EPOCHREALTIME/./}
	q import "$T/big.tar" bigimg:latest
	put "$ENGINE" import_big "$(since_ms "$t0")"
	for ((i = 0; i < N_SAVE; i++)); do
		rm -f "$E/big-save.tar"
		t0=${EPOCHREALTIME/./}
		q save -o "$E/big-save.tar" bigimg:latest
		since_ms "$t0" >>"$R.save.samples"
	done
	put "$ENGINE" save "$(median <"$R.save.samples")"
	put "$ENGINE" save_bytes "$(stat -c %s "$E/big-save.tar")"
	for ((i = 0; i < N_SAVE; i++)); do
		q rmi bigimg:latest
		t0=${EPOCHREALTIME/./}
		q load -i "$E/big-save.tar"
		since_ms "$t0" >>"$R.load.samples"
	done
	put "$ENGINE" load "$(median <"$R.load.samples")"
	q image inspect bigimg:latest
	rm -f "$E/big-save.tar"

	# 6 and 4. Daemon start to first ping over restarts; idle RSS after the last.
	log "$ENGINE: $N_RESTART daemon restarts"
	if [ "$ENGINE" != podman ]; then
		put "$ENGINE" rss_after_work "$(echo "scale=1; $("${ENGINE}_rss_kb") / 1024" | bc)"
	fi
	for ((i = 0; i < N_RESTART; i++)); do
		if [ "$ENGINE" = podman ]; then
			[ "$i" -gt 0 ] && stop_daemon
		else
			"stop_$ENGINE"
		fi
		"start_$ENGINE"
		echo "$PING_MS" >>"$R.start.samples"
	done
	put "$ENGINE" start "$(median <"$R.start.samples")"
	if [ "$ENGINE" = podman ]; then
		# idle: one ping answered, no containers, two images
		put "$ENGINE" idle_rss "$(echo "scale=1; $(rss_kb "$DPID") / 1024" | bc)"
		stop_daemon
	else
		c ps -a >/dev/null
		c images >/dev/null
		put "$ENGINE" idle_rss "$(echo "scale=1; $("${ENGINE}_rss_kb") / 1024" | bc)"
		"stop_$ENGINE"
	fi
	log "$ENGINE: done"
}
berth_rss_kb() { rss_kb "$DPID"; }
stop_berth() { stop_daemon; }
podman_rss_kb() { rss_kb "$DPID"; }

if has_engine berth; then
	build_berth || true
fi

run_suites suite

# ---------------------------------------------------------------------------
# Table (ratio, verdict, fmt: bench/lib.sh).
# ---------------------------------------------------------------------------
row() { # label key target-text dockerd-limit podman-limit
	local b d p rd rp tgt=$3 v1 v2
	b=$(fmt "$(get berth "$2")")
	d=$(fmt "$(get docker "$2")")
	p=$(fmt "$(get podman "$2")")
	rd=$(ratio "$b" "$d")
	rp=$(ratio "$b" "$p")
	v1= v2=
	[ -n "${4:-}" ] && v1=$(verdict "$b" "$d" "$4")
	[ -n "${5:-}" ] && v2=$(verdict "$b" "$p" "$5")
	[ -n "$v1$v2" ] && tgt="$tgt [${v1:+dockerd $v1}${v1:+${v2:+, }}${v2:+podman $v2}]"
	printf '%s | %s | %s | %s | %s | %s | %s\n' "$1" "$b" "$d" "$p" "$rd" "$rp" "$tgt"
}

{
	echo "# berth bench — $START_TS — $(uname -r), $(nproc) CPUs, load $START_LOAD at start, $(cut -d' ' -f1-3 /proc/loadavg) at end"
	echo "# dockerd: $(dockerd --version 2>/dev/null || echo n/a); podman: $(podman --version 2>/dev/null || echo n/a); runc: $(runc --version 2>/dev/null | head -1)"
	echo "# client for berthd and dockerd: $DOCKER ($("$DOCKER" --version 2>/dev/null)); podman: its own CLI (--root/--runroot, runtime ${PODMAN_RUNTIME:-runc})"
	for e in berth docker podman; do
		s=$(get "$e" status)
		[ "$s" != - ] && echo "# $e: $s"
		has_engine "$e" || { [ "$s" = - ] && echo "# $e: not measured (ENGINES)"; }
	done
	echo
	echo "metric | berth | dockerd | podman | berth/dockerd | berth/podman | target"
	row "run --rm busybox true, --network none (ms, median of $N_RUN)" run_rm "≤0.25× dockerd, ≤0.5× podman" 0.25 0.5
	row "$N_BATCH × create+start sleep (s, wall)" batch ""
	row "ps -a with $N_PS containers (ms, median of $N_PS_SAMPLES)" ps ""
	row "idle daemon RSS (MB; dockerd+containerd; podman service)" idle_rss "≤0.35× dockerd+containerd" 0.35
	row "RSS per running container (MB; berth-shim / containerd-shim / conmon)" percont "≤0.35× containerd-shim" 0.35
	row "daemon start to first ping (ms, median of $N_RESTART; podman service)" start "≤0.2× dockerd" 0.2
	row "logs of $LOG_LINES lines (ms, median of $N_LOGS)" logs "≤0.5× dockerd" 0.5
	row "save -o of a ${BIG_MB} MB image (ms, median of $N_SAVE)" save ""
	row "load -i of a ${BIG_MB} MB image (ms, median of $N_SAVE)" load ""
	row "exec CONTAINER true (ms, median of $N_EXEC)" exec "≤0.4× dockerd" 0.4
	row "stats --no-stream, $N_STATS running, first call (ms, median of $N_STATS_SAMPLES sets)" stats "≤0.3× dockerd" 0.3
	row "stats --no-stream again at once (ms, median of $N_STATS_SAMPLES)" stats_again ""
	row "stats --no-stream again ${STATS_WATCH_S} s later, watch-style (ms, median of $N_STATS_SAMPLES)" stats_watch ""
	row "restart always: die → start, first back-off (ms, median of $N_RESTARTS)" restart ""
	echo
	echo "reference: bare runc run of the same rootfs: $(fmt "$(get ref runc)") ms (median of $N_RUN)"
	echo "reference: bare runc exec of true into a running runc container: $(fmt "$(get ref runc_exec)") ms (median of $N_EXEC)"
	if [ "$CRUN_OK" = 1 ]; then
		echo "reference: bare crun run of the same rootfs: $(fmt "$(get ref crun)") ms (median of $N_RUN)"
	else
		echo "reference: bare crun run: fails here: $(get ref crun.err)"
	fi
	for e in berth docker podman; do
		s=$(get "$e" restart_note)
		[ "$s" != - ] && echo "note: $e: restart policy: $s"
	done
	echo
	echo "extra | berth | dockerd | podman"
	for k in version:"client floor: \`version\` (ms, median of $N_RUN)" first_start_ms:"first daemon start, empty root (ms)" import_big:"import of the ${BIG_MB} MB tar (ms, 1 sample)" \
		save_bytes:"saved archive size (bytes)" percont_n:"per-container processes found" \
		percont_pss:"PSS per running container (MB; shared pages split among the processes sharing them)" \
		rss_with_containers:"daemon RSS with $N_RSS running (MB)" rss_after_work:"daemon RSS after the workload (MB)" \
		logs_lines:"lines printed by logs" logs_api:"logs of $LOG_LINES lines via the raw API, curl (ms, median of $N_LOGS)" \
		stats_rows:"rows printed by stats --no-stream (want $N_STATS)" stats_floor:"stats --no-stream, no container running: client floor (ms, median of 3)"; do
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
cp "$T/table.txt" "$RESULTS_DIR/latest.txt"
echo
cat "$T/table.txt"
log "written to $RESULTS_DIR/latest.txt"
