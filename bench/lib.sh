# bench/lib.sh — helpers shared by bench/run.sh, bench/network.sh and
# bench/distribution.sh (sourced, never run). Defines functions only, plus
# nothing at the top level: each script sets its own knobs (ENGINES,
# CMD_TIMEOUT, PING_TIMEOUT, BENCH_TMP, KEEP, INSTALL, …) and calls
# bench_init_tmp to make the temp dir T before using the helpers that need it.
#
# What the helpers read: T (the run's temp dir), DAEMON_PIDS_FILE, ENGINES,
# ENGINE, E and X (the current engine's dir and exec/run root), DPID (its
# daemon), CRUN_OK (podman's runtime), PODMAN (podman's command line), and c
# (the engine's client, defined by each script).

# ---------------------------------------------------------------------------
# Logging, engines, packages.
# ---------------------------------------------------------------------------
log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

die() {
	log "error: $*"
	exit 1
}

has_engine() { [[ " $ENGINES " == *" $1 "* ]]; }

# check_engines: every word of ENGINES is an engine the benches know.
check_engines() {
	local e
	for e in $ENGINES; do
		case $e in berth | docker | podman) ;; *) die "unknown engine '$e' in ENGINES (berth, docker, podman)" ;; esac
	done
}

# install_pkgs PKG…: apt-get install what is missing (none: nothing to do),
# with `exit 101` in /usr/sbin/policy-rc.d so that no service (Debian's
# docker, containerd, docker-registry, …) starts; the file is removed again
# only if this made it. INSTALL=0 turns installing off (then it dies).
install_pkgs() {
	[ $# -gt 0 ] || return 0
	[ "${INSTALL:-1}" = 1 ] || die "missing packages: $* (INSTALL=0)"
	log "installing $*"
	local made_policy=0 rc
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
	rc=$?
	[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
	[ $rc = 0 ] || die "apt-get install $* failed"
}

# ---------------------------------------------------------------------------
# The temp dir, processes, cleanup.
# ---------------------------------------------------------------------------

# bench_init_tmp PREFIX: make the run's temp dir T=$BENCH_TMP/PREFIX.XXXXXX
# with res/, bin/ and an empty docker client config (DOCKER_CONFIG: no
# contexts, no plugins; podman reads it for auth too); start the list of
# daemons this run starts (DAEMON_PIDS_FILE) and note which host paths the
# incumbents litter already existed (host_litter, litter_pre).
# Short names on purpose: berthd puts each shim's socket at
# <exec-root>/containers/<64-hex id>/shim.sock, and a unix socket path has at
# most 107 bytes, so exec roots are $T/x<letter> (e.g. /tmp/bb.AbC123/xb).
bench_init_tmp() {
	local p
	T=$(mktemp -d "$BENCH_TMP/$1.XXXXXX") || die "mktemp failed"
	chmod 0711 "$T"
	mkdir -p "$T/res" "$T/bin" "$T/docker-config"
	export DOCKER_CONFIG=$T/docker-config
	echo '{}' >"$DOCKER_CONFIG/config.json"
	unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
	# Host paths the incumbents create outside any root they are given;
	# removed at the end only when this run created them.
	host_litter=(/run/docker /run/containers /var/lib/containers/cache)
	litter_pre=()
	for p in "${host_litter[@]}"; do [ -e "$p" ] && litter_pre+=("$p"); done
	# Daemons this run started, one "PID STARTTIME" a line (the start time
	# guards against PID reuse); cleanup stops exactly these, then the shims
	# our daemons made (found by their executable or command line naming $T)
	# and their children.
	DAEMON_PIDS_FILE=$T/daemon.pids
	: >"$DAEMON_PIDS_FILE"
}

starttime() { awk '{sub(/^.*\) /, ""); print $20}' "/proc/$1/stat" 2>/dev/null; }

record_daemon() { echo "$1 $(starttime "$1")" >>"$DAEMON_PIDS_FILE"; }

# our_daemons: recorded PIDs that are still the same processes
our_daemons() {
	local pid st
	while read -r pid st; do
		[ -n "$st" ] && [ "$(starttime "$pid")" = "$st" ] && echo "$pid"
	done <"$DAEMON_PIDS_FILE"
	return 0
}

rss_kb() { awk '/^VmRSS:/ {print $2; f=1} END {if (!f) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }
# pss_kb: the process's proportional set size: each page shared with other
# processes (the binary's text, libraries) counted as its share of it.
pss_kb() { awk '/^Pss:/ {print $2; f=1} END {if (!f) print 0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# proc_state PID: the process's state letter (R, S, D, Z, …), empty when gone.
proc_state() { awk '{sub(/^.*\) /, ""); print $1}' "/proc/$1/stat" 2>/dev/null || true; }

# stop_pid PID [SECONDS]: SIGTERM, bounded wait, SIGKILL. A zombie counts as
# stopped (bash reaps its own children on SIGCHLD; PID 1 here may not).
stop_pid() {
	local pid=$1 secs=${2:-30} i st
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 20; i++)); do
		st=$(proc_state "$pid")
		[ -z "$st" ] || [ "$st" = Z ] && break
		sleep 0.05
	done
	st=$(proc_state "$pid")
	if [ -n "$st" ] && [ "$st" != Z ]; then
		log "pid $pid ignored SIGTERM for ${secs}s; SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	return 0
}

# Shims our daemons made: executable inside $T (the berth-shim we built) or a
# containerd-shim / conmon whose command line names $T.
shims_under_T() {
	local d exe
	for d in /proc/[0-9]*; do
		exe=$(readlink "$d/exe" 2>/dev/null) || continue
		if [[ $exe == "$T/"* ]] ||
			{ [[ $exe == */containerd-shim* || $exe == */conmon ]] && tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF "$T/"; }; then
			echo "${d#/proc/}"
		fi
	done
	return 0
}

children_of() { # PIDs whose parent is one of the arguments
	[ $# -gt 0 ] || return 0
	awk -v want=" $* " '{sub(/^.*\) /, ""); if (index(want, " " $2 " ")) print FILENAME}' /proc/[0-9]*/stat 2>/dev/null |
		sed 's#^/proc/##; s#/stat$##'
	return 0
}

umount_under_T() {
	local m
	for m in $(awk -v t="$T/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
	done
}

# berth_net_cleanup EXEC_ROOT deletes the default bridge and the nftables
# tables that a berthd with that exec-root made in this namespace: both are
# named berth-<first 6 hex digits of sha256(exec-root)>.
berth_net_cleanup() {
	local name
	name=berth-$(printf %s "$1" | sha256sum | cut -c1-6)
	ip link del "$name" 2>/dev/null
	nft delete table inet "$name" 2>/dev/null
	nft delete table bridge "$name" 2>/dev/null
	return 0
}

# bench_cleanup: the EXIT trap's work. Stops the daemons this run started
# (by recorded PID), then the shims our daemons made and their children, then
# runs the script's CLEANUP_HOOK (a function name; may be empty), unmounts
# everything under T, removes T (KEEP=1 keeps it, as do mounts that would not
# go) and the host litter this run created. Exits with the status the script
# was exiting with.
bench_cleanup() {
	local rc=$? p left
	trap - EXIT INT TERM
	set +e
	log "cleaning up $T"
	for p in $(our_daemons); do stop_pid "$p" 20; done
	left=$(shims_under_T)
	if [ -n "$left" ]; then
		# shellcheck disable=SC2086
		left="$(children_of $left) $left"
		log "stopping leftover shims and their containers: $(echo $left)"
		for p in $left; do kill -KILL "$p" 2>/dev/null; done
	fi
	[ -n "${CLEANUP_HOOK:-}" ] && "$CLEANUP_HOOK"
	berth_net_cleanup "$T/xb"
	umount_under_T
	umount_under_T
	if [ "${KEEP:-0}" = 1 ]; then
		log "KEEP=1: left $T"
	elif awk -v t="$T/" 'index($5, t) == 1 {f=1} END {exit !f}' /proc/self/mountinfo; then
		log "mounts remain under $T; not removing it"
	else
		rm -rf --one-file-system "$T"
	fi
	for p in "${host_litter[@]}"; do
		[[ " ${litter_pre[*]} " == *" $p "* ]] && continue
		[ -e "$p" ] && rm -rf --one-file-system "$p"
	done
	exit $rc
}

# ---------------------------------------------------------------------------
# Statistics and result files. A result is one line in $T/res/<engine>.<key>;
# samples (ms, KiB, …) go to $T/res/<engine>.<key>.samples.
# ---------------------------------------------------------------------------
median() { # numbers on stdin → median
	sort -g | awk '{a[NR]=$1} END {if (NR==0) exit 1; if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'
}

put() { echo "$3" >"$T/res/$1.$2"; }
get() { cat "$T/res/$1.$2" 2>/dev/null || echo "-"; }
# ms since t0 (µs)
since_ms() { echo "scale=1; (${EPOCHREALTIME/./} - $1) / 1000" | bc; }

# ---------------------------------------------------------------------------
# Images and binaries.
# ---------------------------------------------------------------------------

# make_busybox_tar: $T/rootfs, a rootfs with /bin/busybox from Debian's
# busybox-static, `busybox --install -s /bin`, /etc/passwd and /etc/group,
# and $T/busybox.tar of it (there is no Docker Hub here).
make_busybox_tar() {
	ROOTFS=$T/rootfs
	mkdir -p "$ROOTFS"/{bin,etc,root,tmp,proc,sys,dev}
	chmod 1777 "$ROOTFS/tmp"
	cp "$(command -v busybox || echo /bin/busybox)" "$ROOTFS/bin/busybox"
	chroot "$ROOTFS" /bin/busybox --install -s /bin || die "busybox --install failed"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$ROOTFS/etc/passwd"
	printf 'root:x:0:\nnobody:x:65534:\n' >"$ROOTFS/etc/group"
	tar -C "$ROOTFS" --numeric-owner --owner=0 --group=0 -cf "$T/busybox.tar" . || die "tar busybox"
}

# build_berth [PKG…]: go build berthd and berth-shim (and PKG…, e.g.
# ./cmd/berth-registry) from this tree into $T/bin, the way scripts/build.sh
# builds what install.sh installs (static, stripped): that is what users run.
# When it fails, berth is dropped from ENGINES, its status says so, and it
# returns 1.
build_berth() {
	log "building berthd and berth-shim${1:+ and $*}"
	if ! (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$T/bin/" ./cmd/berthd ./cmd/berth-shim "$@") >"$T/berth-build.log" 2>&1; then
		log "berth does not build; skipping it:"
		head -20 "$T/berth-build.log" >&2
		put berth status "does not build"
		ENGINES=${ENGINES//berth/}
		return 1
	fi
}

# ---------------------------------------------------------------------------
# Engines. setup_<e> sets E and X (the engine's dir and exec/run root), the
# client's DOCKER_HOST, ENGINE_LABEL and SHIM_DESC; each script has its own
# start_<e> (flags differ). podman's is its CLI, PODMAN (no daemon).
# ---------------------------------------------------------------------------
# wait_ping SOCKET PID: poll /_ping until it answers 200, bounded; fails at once
# if the daemon died. curl runs only once the socket exists; the poll sleeps
# 1 ms between tries, since the figure is tens of milliseconds for berthd and
# a coarser poll adds its own granularity to every engine's time.
wait_ping() {
	local sock=$1 pid=$2 deadline=$((${EPOCHREALTIME%.*} + PING_TIMEOUT))
	while ((${EPOCHREALTIME%.*} < deadline)); do
		if [ -S "$sock" ] && curl -sf -o /dev/null --max-time 2 --unix-socket "$sock" http://localhost/_ping; then
			return 0
		fi
		alive "$pid" || return 1
		sleep 0.001
	done
	return 1
}
# launch_daemon SOCKET LOG cmd…: start a daemon in the background, time it to
# the first ping. Sets DPID and PING_MS.
launch_daemon() {
	local sock=$1 logf=$2 t0 t1
	shift 2
	rm -f "$sock"
	t0=${EPOCHREALTIME/./}
	# setsid: a Ctrl-C meant for this script must not reach the daemon first
	# (cleanup removes containers through it). setsid does not fork here: a
	# background job of a non-interactive shell is no process group leader.
	setsid "$@" >>"$logf" 2>&1 </dev/null &
	DPID=$!
	record_daemon "$DPID"
	if ! wait_ping "$sock" "$DPID"; then
		log "daemon $* did not answer /_ping; last log lines:"
		tail -20 "$logf" >&2
		return 1
	fi
	t1=${EPOCHREALTIME/./}
	PING_MS=$(echo "scale=1; ($t1 - $t0) / 1000" | bc)
}
stop_daemon() { stop_pid "$DPID" 60; }
setup_berth() {
	E=$T/berth
	X=$T/xb
	mkdir -p "$E/data" "$X" "$T/bin"
	if [ $((${#X} + 86)) -gt 107 ]; then
		log "berth: exec root $X is too long for shim sockets (${#X} + 86 > 107 bytes); set BENCH_TMP shorter"
	fi
	echo '{}' >"$E/daemon.json"
	export DOCKER_HOST=unix://$E/sock
	ENGINE_LABEL=berthd
	SHIM_DESC="berth-shim"
}
berth_shims() { # pids of berth-shim processes we built
	local d
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/exe" 2>/dev/null)" = "$T/bin/berth-shim" ] && echo "${d#/proc/}"
	done
	return 0
}
setup_docker() {
	E=$T/docker
	X=$T/xd
	mkdir -p "$E/data" "$X"
	echo '{}' >"$E/daemon.json"
	export DOCKER_HOST=unix://$E/sock
	ENGINE_LABEL=dockerd
	SHIM_DESC="containerd-shim-runc-v2"
}
# dockerd starts containerd itself; its PID is in exec-root/containerd.
containerd_pid() {
	local p
	p=$(cat "$X/containerd/containerd.pid" 2>/dev/null) && alive "$p" && echo "$p"
	return 0
}
docker_rss_kb() {
	local p sum
	sum=$(rss_kb "$DPID")
	p=$(containerd_pid) && sum=$((sum + $(rss_kb "$p")))
	echo "$sum"
}
stop_docker() {
	local cp
	cp=$(containerd_pid)
	stop_daemon
	# dockerd stops the containerd it started; make sure.
	[ -n "$cp" ] && alive "$cp" && stop_pid "$cp" 20
	return 0
}
pids_cmdline() { # exe substring: pids whose exe matches and whose cmdline names $T/
	local d
	for d in /proc/[0-9]*; do
		[[ "$(readlink "$d/exe" 2>/dev/null)" == *"$1" ]] || continue
		tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF "$T/" && echo "${d#/proc/}"
	done
	return 0
}
setup_podman() {
	E=$T/podman
	X=$T/xp
	mkdir -p "$E"/{root,tmp,cni} "$X"
	local hn hu
	hn=$(ulimit -Hn)
	hu=$(ulimit -Hu)
	[ "$hn" = unlimited ] && hn=1048576
	# runc cannot raise RLIMIT_NPROC to the hard limit here (EPERM without
	# CAP_SYS_RESOURCE); a fixed value under it works.
	if [ "$hu" = unlimited ] || [ "$hu" -gt 4096 ]; then hu=4096; fi
	cat >"$E/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$hn:$hn", "nproc=$hu:$hu"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$E/tmp"

[network]
network_config_dir = "$E/cni"
EOF
	export CONTAINERS_CONF=$E/containers.conf
	# crun refuses cgroup v1 hybrid hosts; then podman uses runc.
	PODMAN_RUNTIME=runc
	[ "$CRUN_OK" = 1 ] && PODMAN_RUNTIME=crun
	PODMAN=(podman --root "$E/root" --runroot "$X" --storage-driver overlay
		--cgroup-manager cgroupfs --events-backend file --runtime "$PODMAN_RUNTIME")
	ENGINE_LABEL=podman
	SHIM_DESC="conmon"
}

# ---------------------------------------------------------------------------
# The client and a suite's exit. c (the engine's client) is each script's.
# ---------------------------------------------------------------------------
# q: the client with its output kept in a file, shown only when it fails.
q() {
	local rc=0
	c "$@" >"$E/cmd.out" 2>&1 || rc=$?
	if [ $rc != 0 ]; then
		log "$ENGINE: '$*' failed (exit $rc):"
		tail -5 "$E/cmd.out" >&2
	fi
	return $rc
}
rm_all() {
	local ids
	ids=$(c ps -aq 2>/dev/null) || return 0
	[ -z "$ids" ] && return 0
	# podman rm -f first sends SIGTERM and waits 10 s (sleep as PID 1 ignores
	# it); -t 0 kills at once, as docker rm -f does.
	local t=()
	[ "$ENGINE" = podman ] && t=(-t 0)
	# shellcheck disable=SC2086
	c rm -f "${t[@]}" $ids >/dev/null
}
# suite_exit: the subshell's EXIT trap. On failure, remove the engine's
# containers through its own client while the daemon still answers, then stop
# the daemon(s) it started; nothing of one engine outlives its suite.
suite_exit() {
	local rc=$? p
	set +e
	if [ $rc != 0 ]; then
		log "$ENGINE: suite failed (exit $rc); its missing figures show as '-'"
		[ -e "$T/res/$ENGINE.status" ] || put "$ENGINE" status "suite failed (exit $rc); see the run's log"
		CMD_TIMEOUT=60 rm_all 2>/dev/null
		for f in "$E/daemon.log" "$E/service.log"; do
			[ -s "$f" ] && { log "$ENGINE: tail of $f:"; tail -15 "$f" >&2; }
		done
	fi
	for p in $(our_daemons); do stop_pid "$p" 30; done
	exit $rc
}

# ---------------------------------------------------------------------------
# Tables.
# ---------------------------------------------------------------------------
ratio() { # a b → a/b rounded to 2 decimals, or -
	if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && [ "$(echo "$2 > 0" | bc)" = 1 ]; then
		LC_ALL=C printf '%.2f\n' "$(echo "scale=6; $1 / $2" | bc)"
	else
		echo "-"
	fi
}
# verdict A B LIMIT → "ok" when A ≤ LIMIT × B exactly (not the rounded
# ratio), "MISS", or "" without figures.
verdict() {
	[[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] || return 0
	if [ "$(echo "$1 <= $3 * $2" | bc)" = 1 ]; then echo ok; else echo MISS; fi
}
fmt() { sed 's/^\./0./' <<<"$1"; }

# check_clients dies when the docker client a run needs is missing, or when a
# system containerd would capture the dockerd under test.
check_clients() {
	if has_engine berth || has_engine docker; then
		[ -x "$DOCKER" ] || die "docker client $DOCKER not found (set DOCKER=)"
	fi
	if has_engine docker && [ -e /run/containerd/containerd.sock ]; then
		die "/run/containerd/containerd.sock exists: dockerd would use that containerd instead of its own; stop it first"
	fi
}

# run_suites FUNC runs `FUNC ENGINE` for each engine of $ENGINES in a subshell
# that cleans up after itself (suite_exit); an interrupted suite stops the
# whole run, without a table.
run_suites() {
	local fn=$1 e rc
	for e in $ENGINES; do
		(
			set -eE
			trap suite_exit EXIT
			trap 'exit 130' INT
			trap 'exit 143' TERM
			DPID=
			ENGINE=$e
			E=$T/$e
			"$fn" "$e"
		)
		rc=$?
		if [ $rc = 130 ] || [ $rc = 143 ]; then exit $rc; fi
	done
}
