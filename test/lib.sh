# Shared by test/run, test/demo and test/bench/run: dependencies, a private
# install of the extension, and a throwaway server run by the postgres OS user.
# shellcheck shell=bash

USO_ROOT=${USO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
USO_PG_MAJOR=15

# Run a command as the OS user that owns the clusters (PostgreSQL refuses root).
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# Install the Debian packages a fresh machine lacks (idempotent, quiet).
uso_install_deps() {
	local missing=()
	command -v pg_config >/dev/null 2>&1 &&
		[ -x /usr/lib/postgresql/$USO_PG_MAJOR/bin/postgres ] || missing+=(postgresql-$USO_PG_MAJOR)
	[ -f /usr/include/postgresql/$USO_PG_MAJOR/server/postgres.h ] || missing+=(postgresql-server-dev-$USO_PG_MAJOR)
	[ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/curl/curl.h ] || missing+=(libcurl4-openssl-dev)
	perl -MIPC::Run -e 1 >/dev/null 2>&1 || missing+=(libipc-run-perl)
	[ -f /usr/lib/postgresql/$USO_PG_MAJOR/lib/pg_cron.so ] || missing+=(postgresql-$USO_PG_MAJOR-cron)
	command -v python3 >/dev/null 2>&1 || missing+=(python3)
	# pglast for Debian's python3: pgspot (test/pgspot.sh) and the names
	# t/120_planted_overloads.pl plants overloads of.
	/usr/bin/python3 -c 'import pglast' >/dev/null 2>&1 || missing+=(python3-pglast)
	command -v make >/dev/null 2>&1 || missing+=(make)
	command -v gcc >/dev/null 2>&1 || missing+=(gcc)
	# Optional (t/073_prometheus.pl is skipped without it, and the summary says so): on CI
	# always, so that CI runs every test; elsewhere USO_INSTALL_OPTIONAL=1.
	if [ "${CI:-}" = true ] || [ "${USO_INSTALL_OPTIONAL:-}" = 1 ]; then
		[ -x /usr/bin/prometheus-postgres-exporter ] || missing+=(prometheus-postgres-exporter)
	fi
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "== installing: ${missing[*]}"
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	$sudo apt-get update -qq >/dev/null 2>&1 || true
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" postgresql-server-dev-$USO_PG_MAJOR >/dev/null ||
		{ echo "apt-get install failed" >&2; return 1; }
	# Debian's server package creates and starts a default cluster we do not use.
	if command -v pg_ctlcluster >/dev/null 2>&1; then
		$sudo pg_ctlcluster $USO_PG_MAJOR main stop >/dev/null 2>&1 || true
	fi
	id postgres >/dev/null 2>&1 || { echo "no postgres OS user after install" >&2; return 1; }
}

# Build, then install into a private copy of the PostgreSQL tree under $1, so
# tests never touch the system installation and need no root beyond apt-get.
# On all cores, and without the LLVM bitcode PGXS would also compile (JIT
# inlining only; it doubles the build): the packages build it (debian/).
USO_MAKE_FLAGS=${USO_MAKE_FLAGS:--j$(nproc 2>/dev/null || echo 2) with_llvm=no}
uso_build_private_install() {
	local dest=$1
	# shellcheck disable=SC2086
	make -C "$USO_ROOT" -s $USO_MAKE_FLAGS >/dev/null || { make -C "$USO_ROOT" $USO_MAKE_FLAGS; return 1; }
	local libdir sharedir localedir
	libdir=$(pg_config --pkglibdir)		# /usr/lib/postgresql/15/lib
	sharedir=$(pg_config --sharedir)	# /usr/share/postgresql/15
	mkdir -p "$dest$(dirname "$libdir")" "$dest$(dirname "$sharedir")"
	cp -a "$(dirname "$libdir")/." "$dest$(dirname "$libdir")/"
	cp -a "$sharedir" "$dest$(dirname "$sharedir")/"
	# The server finds its message catalogs relative to its binary: without
	# this link a translated lc_messages stays English (t/031 needs it).
	localedir=$(pg_config --localedir)	# /usr/share/locale
	if [ -d "$localedir" ] && [ ! -e "$dest$localedir" ]; then
		ln -s "$localedir" "$dest$localedir"
	fi
	# shellcheck disable=SC2086
	make -C "$USO_ROOT" -s install DESTDIR="$dest" $USO_MAKE_FLAGS >/dev/null
	USO_BINDIR="$dest$(pg_config --bindir)"
	USO_PGXSDIR="$dest$(dirname "$(dirname "$(dirname "$(pg_config --pgxs)")")")"
	export USO_BINDIR USO_PGXSDIR
}

# A work directory the postgres OS user can use (a clone under /root is not).
uso_make_workdir() {
	USO_WORK=$(mktemp -d "/tmp/uso_tasks_${1:-test}.XXXXXX")
	chmod 755 "$USO_WORK"
	export USO_WORK
}

uso_free_port() {
	python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# initdb + start a server with the library preloaded; extra settings in $@.
uso_start_server() {
	USO_DATA=$USO_WORK/data
	USO_SOCK=$USO_WORK/sock
	USO_PORT=$(uso_free_port)
	mkdir -p "$USO_DATA" "$USO_SOCK"
	[ "$(id -u)" = 0 ] && chown -R postgres: "$USO_WORK"
	as_pg "$USO_BINDIR/initdb" -D "$USO_DATA" -U postgres --auth=trust \
		--no-sync -E UTF8 --locale=C.UTF-8 >"$USO_WORK/initdb.log" 2>&1 ||
		{ cat "$USO_WORK/initdb.log"; return 1; }
	{
		echo "shared_preload_libraries = 'uso_tasks'"
		echo "port = $USO_PORT"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$USO_SOCK'"
		echo "max_worker_processes = 40"
		echo "fsync = off"
		echo "log_line_prefix = '%m [%p] %b '"
		for s in "$@"; do echo "$s"; done
	} >>"$USO_DATA/postgresql.conf"
	as_pg "$USO_BINDIR/pg_ctl" -D "$USO_DATA" -l "$USO_WORK/server.log" -w -t 60 start >/dev/null ||
		{ tail -30 "$USO_WORK/server.log"; return 1; }
	export USO_DATA USO_SOCK USO_PORT PGHOST=$USO_SOCK PGPORT=$USO_PORT PGUSER=postgres
}

uso_stop_server() {
	[ -n "${USO_DATA:-}" ] && [ -f "$USO_DATA/postmaster.pid" ] &&
		as_pg "$USO_BINDIR/pg_ctl" -D "$USO_DATA" -m fast -w -t 60 stop >/dev/null 2>&1
	return 0
}

uso_psql() {
	as_pg "$USO_BINDIR/psql" -X -v ON_ERROR_STOP=1 -h "$USO_SOCK" -p "$USO_PORT" -U postgres "$@"
}
