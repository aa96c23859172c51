#!/usr/bin/env bash
# Coverage-guided fuzzing of the schedule parser and describer with libFuzzer
# (clang-14, ASan + UBSan), outside the server.  Not part of make test.
#   bash test/fuzz/run_libfuzzer.sh [seconds]     (default 600)
# Needs clang-14 and libclang-rt-14-dev (apt-get install clang-14 libclang-rt-14-dev).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d /tmp/uso_libfuzzer.XXXXXX)
trap 'rm -rf "$out"' EXIT
clang-14 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-DUSO_LIBFUZZER -Wall -Wno-unused-parameter -Wno-ignored-attributes \
	-I"$root/src" -I"$(pg_config --includedir-server)" \
	"$root/test/fuzz/schedule_fuzz.c" "$root/src/schedule.c" "$root/src/schedule_cron.c" "$root/src/schedule_describe.c" \
	-L"$(pg_config --libdir)" -L"$(pg_config --pkglibdir)" -lpgcommon -lpgport -lm \
	-o "$out/schedule_libfuzzer"
mkdir -p "$out/corpus"
i=0
for s in '*/5 * * * *' '0 2 * * *' '0 0 $ * *' '0 9 * * MON-FRI' '@yearly' '@reboot' '@manual' \
	'30 seconds' 'every 15 minutes' 'every 3 months' 'PT15M' 'P1D' 'P3M' 'T02:00' 'P7D T12:00' \
	'0 0 29 2 *' '1-30/5 1,2,3 * JAN-MAR 0,7' 'P1DT12H'; do
	printf '%s' "$s" > "$out/corpus/seed$i"; i=$((i + 1))
done
"$out/schedule_libfuzzer" -max_total_time="${1:-600}" -max_len=1100 -print_final_stats=1 \
	"$out/corpus" 2>&1 | tail -25
