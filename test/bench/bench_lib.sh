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
