# bench/lifecycle.sh — issue 4's figures (exec, stats, restart policy), sourced
# by bench/run.sh; not run on its own. Uses run.sh's helpers: c and q (the
# engine's client), rm_all, put, median, since_ms, log, and the suite's ENGINE,
# E and R. Runs inside the suite's `set -eE` subshell, with no containers
# present on entry except the batch's; leaves none behind.

N_EXEC=${N_EXEC:-20}
N_STATS=${N_STATS:-50}
N_STATS_SAMPLES=${N_STATS_SAMPLES:-5}
STATS_WATCH_S=${STATS_WATCH_S:-2}
N_RESTARTS=${N_RESTARTS:-5}
RESTART_TIMEOUT=${RESTART_TIMEOUT:-30}

# bare_runc_exec: the floor under every engine's exec: `runc exec … true`
# into a detached runc container of the same rootfs (sleep 600, no network),
# median of N_EXEC after N_WARM. Runs before any engine; run.sh's cleanup
# deletes the container if the run ends half-way.
bare_runc_exec() {
	local b=$T/bundle-exec state=$T/state-runc i t0 t1
	mkdir -p "$b" "$state"
	jq '.process.args=["sleep", "600"]' "$T/bundle/config.json" >"$b/config.json" || return 1
	runc --root "$state" run -d --bundle "$b" bench-exec </dev/null >/dev/null 2>"$T/runc-exec.err" || {
		put ref runc_exec.err "$(tail -1 "$T/runc-exec.err")"
		return 1
	}
	for ((i = 0; i < N_WARM + N_EXEC; i++)); do
		t0=${EPOCHREALTIME/./}
		runc --root "$state" exec bench-exec true </dev/null >/dev/null 2>&1 || break
		t1=${EPOCHREALTIME/./}
		((i >= N_WARM)) && echo "scale=1; ($t1 - $t0) / 1000" | bc >>"$T/res/ref.runc_exec.samples"
	done
	runc --root "$state" delete -f bench-exec >/dev/null 2>&1
	[ -s "$T/res/ref.runc_exec.samples" ] && put ref runc_exec "$(median <"$T/res/ref.runc_exec.samples")"
	return 0
}

# stats_set K: exactly N_STATS running `sleep` containers, named st<K>-<i>.
# Set 1 reuses the batch's containers (batch0…), topped up or trimmed.
stats_set() {
	local k=$1 i n
	if [ "$k" = 1 ]; then
		for ((i = N_STATS; i < N_BATCH; i++)); do
			q rm -f "batch$i"
		done
	else
		rm_all
	fi
	n=$(c ps -q | wc -l)
	for ((i = n; i < N_STATS; i++)); do
		q run -d --network none --name "st$k-$i" busybox sleep 600
	done
	n=$(c ps -q | wc -l)
	[ "$n" = "$N_STATS" ] || log "$ENGINE: $n containers running for stats, want $N_STATS"
	return 0
}

# stats_once KEY: one timed `stats --no-stream` (all running containers).
stats_once() {
	local t0 rc=0
	t0=${EPOCHREALTIME/./}
	c stats --no-stream >"$E/stats.out" 2>&1 || rc=$?
	since_ms "$t0" >>"$R.$1.samples"
	if [ $rc != 0 ]; then
		log "$ENGINE: 'stats --no-stream' failed (exit $rc):"
		tail -5 "$E/stats.out" >&2
		return $rc
	fi
	# rows printed, header excluded
	[ "$1" = stats_floor ] || put "$ENGINE" stats_rows "$(($(wc -l <"$E/stats.out") - 1))"
}

# bench_stats: N_STATS_SAMPLES sets of N_STATS running containers; on each,
# the first `stats --no-stream` (nothing sampled before: an engine that keeps
# samples cannot use them), the same again at once, and again STATS_WATCH_S
# seconds after that one ended, as `watch -n 2 docker stats --no-stream` does.
# A fresh set per sample keeps the first call cold on every engine.
bench_stats() {
	local k
	log "$ENGINE: stats --no-stream over $N_STATS containers ×$N_STATS_SAMPLES sets"
	for ((k = 1; k <= N_STATS_SAMPLES; k++)); do
		stats_set "$k"
		stats_once stats
		stats_once stats_again
		# Not a wait for anything: the gap `watch -n $STATS_WATCH_S` leaves.
		sleep "$STATS_WATCH_S"
		stats_once stats_watch
	done
	put "$ENGINE" stats "$(median <"$R.stats.samples")"
	put "$ENGINE" stats_again "$(median <"$R.stats_again.samples")"
	put "$ENGINE" stats_watch "$(median <"$R.stats_watch.samples")"
	rm_all
	# What the client alone costs: the docker CLI renders --no-stream on its
	# first 500 ms tick, with or without containers.
	for ((k = 0; k < 3; k++)); do
		stats_once stats_floor
	done
	put "$ENGINE" stats_floor "$(median <"$R.stats_floor.samples")"
}

# bench_exec: `exec CONTAINER true` into one running sleep container.
bench_exec() {
	local i t0
	log "$ENGINE: exec true ×$N_EXEC (+$N_WARM warm-up)"
	q run -d --network none --name execbox busybox sleep 600
	for ((i = 0; i < N_WARM + N_EXEC; i++)); do
		t0=${EPOCHREALTIME/./}
		q exec execbox true
		((i >= N_WARM)) && since_ms "$t0" >>"$R.exec.samples"
	done
	put "$ENGINE" exec "$(median <"$R.exec.samples")"
	rm_all
}

# restart_events NAME SINCE: the container's events since SINCE (seconds.µs),
# one "TIMENANO ACTION" a line. Podman 4.3's file backend answers nothing
# when --until is given, so podman reads without streaming instead.
restart_events() {
	if [ "$ENGINE" = podman ]; then
		c events --stream=false --since "$2" --filter "container=$1" --format '{{.Time.UnixNano}} {{.Status}}'
	else
		c events --since "$2" --until "${EPOCHREALTIME}" --filter "container=$1" --format '{{.TimeNano}} {{.Action}}'
	fi
}

# first_backoff: reads "TIMENANO ACTION" lines, prints ms from the first
# die (podman: died) to the next start, or nothing.
first_backoff() {
	awk '($2 == "die" || $2 == "died") && !d {d = $1; next}
		$2 == "start" && d {printf "%.1f\n", ($1 - d) / 1e6; found = 1; exit}
		END {exit !found}'
}

# bench_restart: N_RESTARTS fresh containers with --restart always that exit
# 1 after half a second; for each, the time from its first `die` event to the
# next `start` (the first back-off: Docker waits 100 ms, then doubles the
# delay while the container keeps failing fast, so a new container per sample).
bench_restart() {
	local k name t0 deadline ev ms
	log "$ENGINE: restart policy always, first back-off ×$N_RESTARTS"
	for ((k = 0; k < N_RESTARTS; k++)); do
		name=crash$k
		t0=$EPOCHREALTIME
		q run -d --network none --restart always --name "$name" busybox sh -c 'sleep 0.5; exit 1'
		deadline=$((${EPOCHREALTIME%.*} + RESTART_TIMEOUT))
		ms=
		while ((${EPOCHREALTIME%.*} < deadline)); do
			ev=$(restart_events "$name" "$t0" 2>&1) || true
			if ms=$(first_backoff <<<"$ev"); then break; fi
			ms=
			sleep 0.1
		done
		if [ -z "$ms" ]; then
			log "$ENGINE: $name: no die→start within ${RESTART_TIMEOUT}s; events:"
			echo "$ev" | tail -5 >&2
			put "$ENGINE" restart_note "no restart seen within ${RESTART_TIMEOUT}s"
		else
			echo "$ms" >>"$R.restart.samples"
			echo "$ev" >>"$E/restart-events.txt"
		fi
		q inspect -f '{{.RestartCount}}' "$name"
		cat "$E/cmd.out" >>"$R.restart_count.samples"
		rm_all
	done
	[ -s "$R.restart.samples" ] && put "$ENGINE" restart "$(median <"$R.restart.samples")"
	return 0
}

# lifecycle_suite: all three, with the batch's containers still running.
lifecycle_suite() {
	bench_stats
	bench_exec
	bench_restart
}
