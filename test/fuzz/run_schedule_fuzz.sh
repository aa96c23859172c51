#!/usr/bin/env bash
# Build the schedule parser and describer outside the server with ASan and
# UBSan, and feed them random and mutated schedules (test/fuzz/schedule_fuzz.c).
#   bash test/fuzz/run_schedule_fuzz.sh [iterations]    (default 1000000)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d /tmp/uso_schedule_fuzz.XXXXXX)
trap 'rm -rf "$out"' EXIT
gcc -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	-Wall -Wno-unused-parameter \
	-I"$root/src" -I"$(pg_config --includedir-server)" \
	"$root/test/fuzz/schedule_fuzz.c" "$root/src/schedule.c" "$root/src/schedule_cron.c" "$root/src/schedule_describe.c" \
	-L"$(pg_config --libdir)" -L"$(pg_config --pkglibdir)" -lpgcommon -lpgport -lm \
	-o "$out/schedule_fuzz"
"$out/schedule_fuzz" "${1:-1000000}"
