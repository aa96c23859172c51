#!/usr/bin/env bash
# Schedule arithmetic benchmark: nanoseconds per next-fire-time computation
# (UsoScheduleNext through uso_bench_schedule), 1,000,000 computations per
# schedule and time zone.  Prints figures only; asserts nothing.
#
#   bash test/bench/schedule_bench.sh            # throwaway server (test/lib.sh)
#   PGHOST=... PGPORT=... PGDATABASE=... bash test/bench/schedule_bench.sh
#                                                # a running server where
#                                                # CREATE EXTENSION uso_tasks is done
set -uo pipefail
N=${USO_BENCH_N:-1000000}
SCHEDULES=('*/5 * * * *' '0 2 * * *' '0 9 * * 1-5' '0 0 $ * *' '0 0 29 2 *'
	'T02:00' 'every 15 minutes' 'every 1 day' 'P3M' 'P7D T12:00' '0 0 30 2 *' 'PT6H T12:00')
ZONES=(UTC America/New_York Europe/Berlin)

sql=$(
	echo "SELECT rpad(s, 18) || rpad(z, 18) || lpad(to_char(uso_bench_schedule(s, $N, z) * 1e9 / $N, 'FM99990.0'), 9) || ' ns'"
	echo "FROM (VALUES"
	sep=""
	for s in "${SCHEDULES[@]}"; do
		for z in "${ZONES[@]}"; do
			printf "%s('%s', '%s')\n" "$sep" "$s" "$z"
			sep=","
		done
	done
	echo ") v(s, z);"
)

echo "schedule          time zone          per next-time computation ($N each)"
if [ -n "${PGHOST:-}${PGPORT:-}${PGDATABASE:-}" ]; then
	psql -X -At -v ON_ERROR_STOP=1 -c "$sql"
	exit $?
fi

source "$(dirname "$0")/../lib.sh"
uso_install_deps || exit 1
uso_make_workdir bench_schedule
trap 'uso_stop_server; rm -rf "$USO_WORK"' EXIT
uso_build_private_install "$USO_WORK/install" >/dev/null || exit 1
uso_start_server || exit 1
uso_psql -q -c "CREATE EXTENSION uso_tasks" || exit 1
uso_psql -At -c "$sql"
