#!/bin/sh
# Set up a Debian 12 machine, build peerlog, and run the server or the tests.
#   ./build.sh run [peerlogd options]   install what is missing, build, run peerlogd
#   ./build.sh test                     install what is missing, build, run every test
# Install and build output goes to standard error, so that standard output is
# peerlogd's alone (./build.sh run -f json | jq .).
set -eu

cd "$(dirname "$0")"

PACKAGES="gcc meson ninja-build pkg-config libevent-dev libssl-dev libhiredis-dev"
TEST_PACKAGES="python3 python3-pytest clang libclang-rt-dev openssl rsyslog rsyslog-openssl socat haproxy redis-server systemd prometheus"

# Install the Debian packages that are not installed yet (apt's output on
# stderr).
install_missing() {
	missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	echo "build.sh: installing$missing" >&2
	$sudo apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing >&2
}

# Configure (once) and build one build directory, its output on stderr.
build() {
	dir=$1
	shift
	[ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >&2
	ninja -C "$dir" >&2
}

case "${1:-}" in
run)
	shift
	install_missing $PACKAGES
	build build
	exec ./build/src/peerlogd "$@"
	;;
test)
	install_missing $PACKAGES $TEST_PACKAGES
	build build --werror
	# The same suite again with AddressSanitizer and UBSan (leaks too).
	build build-san --werror -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dbuildtype=debug
	rc=0
	meson test -C build --print-errorlogs || rc=1
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    meson test -C build-san --print-errorlogs --no-suite fuzz || rc=1
	/usr/bin/python3 tests/summary.py build build-san
	exit $rc
	;;
*)
	echo "usage: ./build.sh run [peerlogd options] | ./build.sh test" >&2
	exit 2
	;;
esac
