#!/usr/bin/env bash
# make deb: build the Debian package postgresql-15-uso-tasks with Debian's
# tooling (debian/: debhelper + pg_buildext), from a copy of the source tree
# so that dpkg-buildpackage's output (written next to the tree it builds)
# stays under build/deb/, then check it with lintian.  Installs the build
# dependencies with apt-get when they are missing.  Prints the .deb's path
# last.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

uso_install_deps >&2 || exit 1
missing=()
command -v dpkg-buildpackage >/dev/null 2>&1 || missing+=(dpkg-dev)
command -v debuild >/dev/null 2>&1 || missing+=(devscripts)
command -v dh >/dev/null 2>&1 || missing+=(debhelper)
[ -f /usr/share/perl5/Debian/Debhelper/Sequence/pgxs_loop.pm ] || missing+=(postgresql-server-dev-all)
command -v lintian >/dev/null 2>&1 || missing+=(lintian)
command -v fakeroot >/dev/null 2>&1 || missing+=(fakeroot)
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}" >&2
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	$sudo apt-get update -qq >/dev/null 2>&1 || true
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null || { echo "apt-get install failed" >&2; exit 1; }
fi

version=$(dpkg-parsechangelog -l "$USO_ROOT/debian/changelog" -S Version)
out=$USO_ROOT/build/deb
src=$out/uso-tasks-$version
rm -rf "$out"
mkdir -p "$src"
# Only what is in version control (no objects, no build artifacts).
if git -C "$USO_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$USO_ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar cf - --no-recursion) |
		tar xf - -C "$src"
else
	(cd "$USO_ROOT" && tar cf - --exclude=./build --exclude='*.o' --exclude='*.so' --exclude='*.bc' .) |
		tar xf - -C "$src"
fi
rm -rf "$src/build"
echo "== dpkg-buildpackage ($src)" >&2
(cd "$src" && dpkg-buildpackage -us -uc >"$out/build.log" 2>&1) ||
	{ tail -40 "$out/build.log" >&2; exit 1; }
changes=$(ls "$out"/uso-tasks_"$version"_*.changes)
echo "== lintian" >&2
# Errors fail the build; warnings are shown.
lintian --fail-on error "$changes" >&2
ls "$out"/postgresql-*-uso-tasks_"$version"_*.deb
