#!/usr/bin/env bash
# Soak: N tasks (default 10,000) on a '1 seconds' schedule for S seconds
# (default 60) on a throwaway server.  Prints runs, skipped, dangling runs,
# scheduler and executor RSS at start and end, and ERROR lines in the log.
# Usage: bash test/bench/soak.sh [tasks] [seconds]
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
TASKS=${1:-10000}
SECONDS_RUN=${2:-60}

uso_install_deps
uso_make_workdir soak
trap 'uso_stop_server; rm -rf "$USO_WORK"' EXIT
uso_build_private_install "$USO_WORK/install"
uso_start_server "max_worker_processes = 32" "uso_tasks.max_workers = 8" "shared_buffers = '256MB'"
uso_psql -q -c "CREATE EXTENSION uso_tasks" -c "UPDATE uso_task SET enabled = false WHERE builtin" \
	-c "CREATE TABLE hits (n int)"

# Private memory (kB) of the processes whose backend_type is $1: RSS would
# also count the shared_buffers pages a process touched, which is not growth.
rss() {
	local pids; pids=$(uso_psql -Atc "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type = '$1'")
	local total=0
	for p in $pids; do
		total=$((total + $(awk '/^Private_(Clean|Dirty)/ {s += $2} END {print s + 0}' /proc/$p/smaps_rollup 2>/dev/null || echo 0)))
	done
	echo $total
}

uso_psql -q -c "INSERT INTO uso_task (name, schedule, command)
	SELECT 'soak_' || i, '1 seconds', 'INSERT INTO hits VALUES (' || i || ')' FROM generate_series(1, $TASKS) i"
sleep 5   # warm-up before the first RSS reading (not a wait for a run)
s_rss0=$(rss 'uso_tasks scheduler'); e_rss0=$(rss 'uso_tasks worker')
start=$(date +%s)
# Private memory at each third of the run: growth that stops is warm-up
# (caches), growth that goes on would be a leak.
mem_line="scheduler ${s_rss0}"; emem_line="executors ${e_rss0}"
for third in 1 2 3; do
	sleep $((SECONDS_RUN / 3))
	mem_line="$mem_line -> $(rss 'uso_tasks scheduler')"
	emem_line="$emem_line -> $(rss 'uso_tasks worker')"
done
s_rss1=$(rss 'uso_tasks scheduler'); e_rss1=$(rss 'uso_tasks worker')
uso_psql -q -c "UPDATE uso_task SET enabled = false WHERE name LIKE 'soak_%'"
for _ in $(seq 1 600); do   # drain: poll until nothing is open (deadline 60 s)
	open=$(uso_psql -Atc "SELECT count(*) FROM uso_task_run WHERE finished_at IS NULL")
	[ "$open" = 0 ] && break
	sleep 0.1
done
uso_psql -P pager=off -c "SELECT status, count(*) FROM uso_task_run GROUP BY 1 ORDER BY 1"
uso_psql -At -c "SELECT 'runs/s: ' || round(count(*) FILTER (WHERE status = 'succeeded') / extract(epoch FROM max(finished_at) - min(started_at))::numeric, 1)
	|| ', lateness p50/p99 ms: ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - scheduled_for) * 1000)::numeric, 1)
	|| ' / ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - scheduled_for) * 1000)::numeric, 1)
	FROM uso_task_run WHERE status = 'succeeded' AND trigger = 'schedule'"
echo "dangling runs after drain: $open"
echo "private memory (kB) at start and each third: $mem_line; $emem_line"
echo "ERROR lines in the server log: $(grep -c -E '\b(ERROR|PANIC)\b' "$USO_WORK/server.log" || true)"
grep -E -A2 '\b(ERROR|PANIC)\b' "$USO_WORK/server.log" | head -12 || true
