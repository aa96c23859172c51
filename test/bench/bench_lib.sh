# Helpers of test/bench/run (sourced after test/lib.sh).
# shellcheck shell=bash

# q DB SQL: run SQL, unaligned tuples only.
q() {
	uso_psql -d "$1" -At -q -c "$2"
}

# poll_until DB SQL SECONDS: until SQL returns t; false after SECONDS.
poll_until() {
	local deadline=$((SECONDS + $3))
	while [ "$(q "$1" "$2")" != t ]; do
		[ $SECONDS -ge $deadline ] && { echo "timed out waiting for: $2" >&2; return 1; }
		sleep 0.1
	done
}

# poll_value DB SQL SECONDS: print SQL's first non-empty value.
poll_value() {
	local deadline=$((SECONDS + $3)) v
	for (( ; ; )); do
		v=$(q "$1" "$2" | head -1)
		[ -n "$v" ] && { echo "$v"; return 0; }
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.2
	done
}

# CPU time a process has used, in nanoseconds (scheduler statistics).
cpu_ns() {
	cut -d' ' -f1 "/proc/$1/schedstat"
}

# CPU time of the whole server in nanoseconds: the postmaster, its live
# children, and the children it has reaped (pg_cron's per-run backends).
server_cpu_ns() {
	local pm tick own reaped kids=0 c
	pm=$(head -1 "$USO_DATA/postmaster.pid")
	tick=$(getconf CLK_TCK)
	own=$(cpu_ns "$pm")
	reaped=$(sed 's/^.*) //' "/proc/$pm/stat" | awk '{ print $14 + $15 }')
	for c in $(pgrep -P "$pm"); do
		[ -r "/proc/$c/schedstat" ] && kids=$((kids + $(cpu_ns "$c" 2>/dev/null || echo 0)))
	done
	echo $((own + kids + reaped * 1000000000 / tick))
}

# wait_quiet PID: until the process has used under 2 ms of CPU in 250 ms
# (the scheduler finished loading the tasks a catalog change made it read).
wait_quiet() {
	local a b deadline=$((SECONDS + 300))
	sleep 0.3
	for (( ; ; )); do
		a=$(cpu_ns "$1")
		sleep 0.25
		b=$(cpu_ns "$1")
		[ $((b - a)) -lt 2000000 ] && return 0
		[ $SECONDS -ge $deadline ] && { echo "process $1 never went quiet" >&2; return 1; }
	done
}

say() {
	echo "   $*"
}

# ratio A B: A / B with 2 significant decimals, or n/a.
ratio() {
	awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {
		if (a == "" || b == "" || b + 0 == 0 || a == "n/a" || b == "n/a") { print "n/a"; exit }
		r = a / b; printf (r >= 10 ? "%.0f" : (r >= 1 ? "%.1f" : "%.3f")), r }'
}

# meets VALUE ge|le LIMIT: yes or NO.
meets() {
	awk -v v="${1:-}" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "" || v == "n/a") { print "n/a"; exit }
		ok = (op == "ge") ? (v + 0 >= l + 0) : (v + 0 <= l + 0); print ok ? "yes" : "NO" }'
}

# Turn uso_tasks.enabled off (the scheduler loads tasks but queues nothing).
uso_set_enabled() {
	q usobench "ALTER SYSTEM SET uso_tasks.enabled = $1" >/dev/null
	q usobench "SELECT pg_reload_conf()" >/dev/null
	sleep 0.5	# the scheduler takes the SIGHUP on its next loop
}

uso_sched_pid() {
	poll_value postgres "SELECT pid FROM pg_stat_activity
		WHERE backend_type = 'uso_tasks scheduler' AND datname = 'usobench'" 30
}

# uso_delete_tasks WHERE: delete tasks with the scheduler paused, so it never
# inserts a run of a task deleted under it (see docs/bench.md, bugs).
uso_delete_tasks() {
	uso_set_enabled off
	q usobench "DELETE FROM uso_task WHERE $1" >/dev/null
	q usobench "ALTER SYSTEM RESET uso_tasks.enabled" >/dev/null
	q usobench "SELECT pg_reload_conf()" >/dev/null
}

uso_restart_server() {
	as_pg "$USO_BINDIR/pg_ctl" -D "$USO_DATA" -l "$USO_WORK/server.log" -w -t 60 restart >/dev/null ||
		{ tail -30 "$USO_WORK/server.log"; return 1; }
}

cron_pid() {
	poll_value postgres "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'" 30
}

# cron_burst N TOTAL: N jobs due at the same minute with TOTAL jobs in
# cron.job (TOTAL - N idle ones are there already).  Prints: runs/s,
# start - due p50 and p99 (ms), failed runs, launcher CPU per run (us), runs
# done, server CPU per run (us).
cron_burst() {
	local n=$1 total=$2 wait_s minute due ids lo hi c0 c1 s0 s1 sql
	if [ "$total" -gt "$n" ]; then
		q cronbench "DELETE FROM cron.job WHERE jobid IN
			(SELECT jobid FROM cron.job WHERE schedule = '0 0 1 1 *' LIMIT $n)" >/dev/null
	fi
	# The next minute at least 5 s away, so the launcher has loaded the jobs.
	IFS='|' read -r due minute < <(q cronbench "
		SELECT m, extract(minute FROM m AT TIME ZONE 'UTC')
		FROM (SELECT date_trunc('minute', clock_timestamp() + interval '5 s') + interval '1 minute' AS m) s")
	[ -n "${due:-}" ] || return 1
	ids=$(q cronbench "WITH s AS (SELECT cron.schedule('$minute * * * *', '$CMD') AS id
		FROM generate_series(1, $n)) SELECT min(id), max(id) FROM s")
	lo=${ids%|*}
	hi=${ids#*|}
	wait_s=$(q cronbench "SELECT greatest(extract(epoch FROM '$due'::timestamptz - clock_timestamp()) - 1, 0)")
	sleep "$wait_s"
	c0=$(cpu_ns "$CRON_PID")
	s0=$(server_cpu_ns)
	sql="FROM cron.job_run_details WHERE jobid BETWEEN $lo AND $hi AND start_time >= '$due'::timestamptz - interval '1 s'"
	poll_until cronbench "SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed')) = $n
		OR clock_timestamp() > '$due'::timestamptz + interval '150 s' $sql" 200
	c1=$(cpu_ns "$CRON_PID")
	s1=$(server_cpu_ns)
	q cronbench "SELECT round(count(*) FILTER (WHERE status IN ('succeeded', 'failed')) /
			extract(epoch FROM max(end_time) - '$due')::numeric),
		round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM start_time - '$due')) * 1000)::numeric, 1),
		round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM start_time - '$due')) * 1000)::numeric, 1),
		count(*) FILTER (WHERE status = 'failed'),
		count(*) FILTER (WHERE status IN ('succeeded', 'failed'))
		$sql" | {
		IFS='|' read -r rate p50 p99 bad done
		echo "$rate $p50 $p99 $bad $(((c1 - c0) / (done > 0 ? done : 1) / 1000)) $done" \
			"$(((s1 - s0) / (done > 0 ? done : 1) / 1000))"
	}
	q cronbench "DELETE FROM cron.job WHERE jobid BETWEEN $lo AND $hi" >/dev/null
}

# pgcron_source: a pg_cron source tree or git dir to build 1.6 from, or
# nothing: $USO_BENCH_PGCRON_SRC, else a fetched mirror of citusdata/pg_cron
# under /work/.mirror (a bare git dir).
pgcron_source() {
	local d
	if [ -n "${USO_BENCH_PGCRON_SRC:-}" ]; then
		echo "$USO_BENCH_PGCRON_SRC"
		return 0
	fi
	for d in /work/.mirror/citusdata+pg_cron*/repo /work/.mirror/citusdata+pg_cron*; do
		[ -e "$d/HEAD" ] || [ -f "$d/pg_cron.control" ] || continue
		echo "$d"
		return 0
	done
	return 1
}

# build_pgcron SRC DEST: build pg_cron from SRC (a source tree, or a git dir:
# tag $USO_BENCH_PGCRON_REF, default v1.6.7 when it exists, else HEAD) and
# install it into the private tree DEST (over Debian's 1.4 there, never into
# the system).  Prints the version built.
build_pgcron() {
	local src=$1 dest=$2 b=$USO_WORK/pg_cron_src ref
	rm -rf "$b"
	mkdir -p "$b"
	if [ -f "$src/pg_cron.control" ]; then
		cp -a "$src/." "$b/"
		ref=tree
	else
		ref=${USO_BENCH_PGCRON_REF:-v1.6.7}
		git --git-dir="$src" rev-parse -q --verify "$ref^{commit}" >/dev/null 2>&1 || ref=HEAD
		git --git-dir="$src" archive "$ref" | tar -x -C "$b" || return 1
	fi
	# pg_cron links libpq: its headers come with libpq-dev
	if [ ! -f "$(pg_config --includedir)/libpq-fe.h" ]; then
		local sudo=""
		[ "$(id -u)" = 0 ] || sudo="sudo"
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends libpq-dev \
			>/dev/null 2>&1 || return 1
	fi
	make -C "$b" -s PG_CONFIG=pg_config >"$USO_WORK/pg_cron_build.log" 2>&1 &&
		make -C "$b" -s PG_CONFIG=pg_config install DESTDIR="$dest" >>"$USO_WORK/pg_cron_build.log" 2>&1 ||
		{ tail -20 "$USO_WORK/pg_cron_build.log" >&2; return 1; }
	echo "$ref"
}

# sched_memory PID: the scheduler's memory as "CONTEXT_BYTES ANON_KB": the
# grand total of its memory contexts (pg_log_backend_memory_contexts, read
# back from the server log) and its private anonymous resident memory
# (RssAnon: malloc'd, not shared buffers).
sched_memory() {
	local pid=$1 off bytes="" i
	off=$(stat -c %s "$USO_WORK/server.log")
	q postgres "SELECT pg_log_backend_memory_contexts($pid)" >/dev/null
	for i in $(seq 1 100); do
		bytes=$(tail -c +"$((off + 1))" "$USO_WORK/server.log" | grep -o 'Grand total: [0-9]* bytes' |
			head -1 | grep -o '[0-9]*')
		[ -n "$bytes" ] && break
		sleep 0.1
	done
	echo "${bytes:-0} $(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status")"
}

# uso_loaded N: until the scheduler's status shows N tasks loaded and it went quiet.
uso_loaded() {
	poll_until usobench "SELECT tasks_loaded = $1 FROM uso_scheduler_status" 600 &&
		wait_quiet "$(uso_sched_pid)"
}

# pgbench_insert CLIENTS SECONDS: pgbench of the bench's INSERT in database
# usobench, prints "TPS SERVER_CPU_US_PER_TRANSACTION".
pgbench_insert() {
	local f=$USO_WORK/pgbench_insert.sql s0 s1 out tps n
	echo "$CMD;" >"$f"
	chmod 644 "$f"
	s0=$(server_cpu_ns)
	out=$(as_pg "$USO_BINDIR/pgbench" -n -h "$USO_SOCK" -p "$USO_PORT" -U postgres \
		-c "$1" -j 2 -T "$2" -f "$f" usobench 2>&1)
	s1=$(server_cpu_ns)
	tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
	n=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	[ -n "$tps" ] && [ -n "$n" ] && [ "$n" -gt 0 ] || { echo "$out" >&2; echo "n/a n/a"; return 1; }
	echo "${tps%.*} $(((s1 - s0) / n / 1000))"
}

# cron_steady N: N pg_cron jobs on '1 seconds' (pg_cron 1.5+) for
# STEADY_SECS after 3 s of warm-up.  Prints runs/s started in the window.
cron_steady() {
	local n=$1 t0 t1
	local since
	since=$(q cronbench "SELECT clock_timestamp()")
	q cronbench "SELECT count(cron.schedule('1 seconds', '$CMD')) FROM generate_series(1, $n)" >/dev/null
	# warm-up: until the launcher has started jobs (it reloads its job list), then 3 s
	poll_until cronbench "SELECT count(*) > 0 FROM cron.job_run_details WHERE start_time > '$since'" 60 >/dev/null 2>&1
	sleep 3
	t0=$(q cronbench "SELECT clock_timestamp()")
	sleep "$STEADY_SECS"
	t1=$(q cronbench "SELECT clock_timestamp()")
	q cronbench "DELETE FROM cron.job" >/dev/null
	sleep 1
	q cronbench "SELECT round(count(*) / extract(epoch FROM '$t1'::timestamptz - '$t0')::numeric)
		FROM cron.job_run_details WHERE start_time BETWEEN '$t0' AND '$t1'"
}
