#!/usr/bin/env bash
# pgspot (Timescale's checker for extension scripts) on every install and
# update script we ship, except the released 0.1 install scripts, which are
# frozen (issue 21).  Each script is one test: it passes only when pgspot
# reports nothing on it -- 0 errors, 0 warnings, 0 unknowns, and no part it
# could not parse (pgspot stops at such a part and checks nothing after it).
#
# pgspot's source is not ours and is never committed: it is looked for in
# $USO_PGSPOT_SRC (default /work/tools/pgspot/src, timescale/pgspot 0.6.0's
# src directory) and run with Debian's /usr/bin/python3 and python3-pglast.
# Without either, the last line says "pgspot: skipped: <why>".
# Last line otherwise: "pgspot: N passed, M failed".
set -uo pipefail
root=${USO_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
src=${USO_PGSPOT_SRC:-/work/tools/pgspot/src}
py=/usr/bin/python3

if [ ! -f "$src/pgspot/__main__.py" ]; then
	echo "pgspot: skipped: no pgspot at $src (set USO_PGSPOT_SRC to the src directory of timescale/pgspot 0.6.0)"
	exit 0
fi
if ! "$py" -c 'import pglast' >/dev/null 2>&1; then
	echo "pgspot: skipped: $py cannot import pglast (apt-get install python3-pglast)"
	exit 0
fi

# The scripts are the Makefile's: DATA and DATA_built (built or not, update
# scripts generated later included), without the frozen 0.1 install scripts.
scripts=$(make -s --no-print-directory -C "$root" -f Makefile -f - uso-pgspot-scripts <<'MK'
uso-pgspot-scripts:
	@echo $(filter-out %--0.1.sql,$(filter sql/%.sql,$(DATA) $(DATA_built)))
MK
)
[ -n "$scripts" ] || { echo "pgspot: 0 passed, 1 failed (no scripts found in the Makefile)"; exit 0; }
make -s --no-print-directory -C "$root" $scripts >/dev/null 2>&1 ||
	{ echo "pgspot: 0 passed, 1 failed (could not build $scripts)"; exit 0; }

echo "pgspot $(PYTHONPATH=$src "$py" -m pgspot --version 2>&1 | awk '{print $NF}') on: $scripts"
passed=0 failed=0
for f in $scripts; do
	out=$(cd "$root" && PYTHONPATH=$src "$py" -m pgspot "$f" 2>&1)
	rc=$?
	# The summary is the first line starting with " Errors:"; a part pgspot
	# could not parse follows it.
	summary=$(printf '%s\n' "$out" | grep -m1 '^ *Errors: ' | sed 's/^ *//; s/ *$//')
	fatal=$(printf '%s\n' "$out" | sed -n '/^ *Errors: /,$p' | sed '1d; /^ *$/d' | head -3)
	if [ "$rc" -eq 0 ]; then
		echo "ok     pgspot $f ($summary)"
		passed=$((passed + 1))
	else
		echo "FAILED pgspot $f (${summary:-no summary}${fatal:+; it could not parse, so checked nothing after: $(printf '%s' "$fatal" | head -1 | sed 's/^ *//' | cut -c1-120)})"
		printf '%s\n' "$out" | grep -E '^PS[0-9]+' | head -15 | sed 's/^/         /'
		n=$(printf '%s\n' "$out" | grep -cE '^PS[0-9]+')
		[ "$n" -gt 15 ] && echo "         ... $((n - 15)) more"
		failed=$((failed + 1))
	fi
done
echo "pgspot: $passed passed, $failed failed"
