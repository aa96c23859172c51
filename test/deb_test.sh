#!/usr/bin/env bash
# The Debian package, installed and used: build it (make deb) unless $USO_DEB
# names a .deb, check its file list, unpack it with dpkg -x into a clean
# private copy of the PostgreSQL tree (which has no uso_tasks of its own),
# start a server from that tree with the library preloaded, and create both
# extensions, fresh and by upgrading from 0.1.  Prints "N passed, M failed".
set -uo pipefail
source "$(dirname "$0")/lib.sh"

passed=0 failed=0
check() {	# description command...
	local what=$1
	shift
	if "$@"; then
		echo "ok - $what"; passed=$((passed + 1))
	else
		echo "not ok - $what"; failed=$((failed + 1))
	fi
}
finish() { echo; echo "deb test: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; }

deb=${USO_DEB:-}
if [ -z "$deb" ]; then
	deb=$(bash "$USO_ROOT/test/deb_build.sh" | tail -1) || { echo "not ok - make deb"; failed=1; finish; exit 1; }
fi
echo "package: $deb"
check "the package is named as Debian names PostgreSQL extensions" \
	test "$(dpkg-deb -f "$deb" Package)" = "postgresql-$USO_PG_MAJOR-uso-tasks"

# Every file the extensions need, where PostgreSQL looks for it.
libdir=$(pg_config --pkglibdir) sharedir=$(pg_config --sharedir)
contents=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|')
want=("$libdir/uso_tasks.so" "$sharedir/extension/uso_tasks.control" "$sharedir/extension/uso_office.control")
for f in "$USO_ROOT"/sql/uso_tasks--*.sql "$USO_ROOT"/sql/uso_office--*.sql; do
	want+=("$sharedir/extension/$(basename "$f")")
done
for f in "${want[@]}"; do
	check "the package installs $f" grep -qx "$f" <<<"$contents"
done

# A clean private tree: the server's own files, then the package on top.
uso_make_workdir debtest
trap 'uso_stop_server; [ -n "${USO_KEEP:-}" ] || rm -rf "$USO_WORK"' EXIT
tree=$USO_WORK/root
mkdir -p "$tree$(dirname "$libdir")" "$tree$(dirname "$sharedir")"
cp -a "$(dirname "$libdir")/." "$tree$(dirname "$libdir")/"
cp -a "$sharedir" "$tree$(dirname "$sharedir")/"
rm -f "$tree$libdir"/uso_tasks.so "$tree$sharedir"/extension/uso_*
dpkg -x "$deb" "$tree"
check "dpkg -x installed the library into the tree" test -f "$tree$libdir/uso_tasks.so"
USO_BINDIR=$tree$(pg_config --bindir)
export USO_BINDIR
uso_start_server || { echo "not ok - server starts from the package's tree"; failed=$((failed + 1)); finish; exit 1; }
check "the server runs the package's library" \
	grep -q "$tree$libdir/uso_tasks.so" "/proc/$(head -1 "$USO_DATA/postmaster.pid")/maps"
uso_psql -q -d postgres -c "CREATE DATABASE fresh" -c "CREATE DATABASE old"
check "CREATE EXTENSION uso_office CASCADE creates both" \
	test "$(uso_psql -q -d fresh -Atc 'CREATE EXTENSION uso_office CASCADE' \
		-c "SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension WHERE extname LIKE 'uso%'" 2>/dev/null)" \
		= "uso_office 0.2, uso_tasks 0.2"
check "the 17 pack tasks, housekeeping and alert delivery are registered" \
	test "$(uso_psql -d fresh -Atc 'SELECT count(*) FROM uso_task WHERE builtin')" = 19
run=$(uso_psql -d fresh -Atc "SELECT uso_run_now('uso_housekeeping')")
check "a task runs" test "$(uso_psql -d fresh -Atc "SELECT uso_wait($run, '60 s')")" = succeeded
check "0.1 installs and upgrades in place" \
	test "$(uso_psql -q -d old -Atc "CREATE EXTENSION uso_tasks VERSION '0.1'" -c 'ALTER EXTENSION uso_tasks UPDATE' \
		-c "SELECT string_agg(extname || ' ' || extversion, ', ' ORDER BY extname) FROM pg_extension WHERE extname LIKE 'uso%'" 2>/dev/null)" \
		= "uso_office 0.2, uso_tasks 0.2"
finish
