#!/bin/sh
# Build one libFuzzer harness with clang and run it for a while:
#   run-fuzz.sh NAME SECONDS SRCDIR BUILDDIR
# NAME is escape, frame, octet, record, addr, cidr, opts, source,
# certname, proxy or sdenv.
# PEERLOG_FUZZ_SECONDS, when set, overrides SECONDS. Everything is written
# under BUILDDIR/fuzz-NAME/: the binary, a scratch corpus seeded from
# SRCDIR/tests/fuzz/corpus/NAME/ (kept between runs, so it grows) and any
# crash in artifacts/. The exit status is libFuzzer's (0: nothing found);
# 77, which meson counts as skipped, when clang or libFuzzer is missing.
set -u

# Say how to call this script, and stop.
usage() {
	echo "usage: run-fuzz.sh" \
	    "escape|frame|octet|record|addr|cidr|opts|source|certname|proxy|sdenv" \
	    "SECONDS SRCDIR BUILDDIR" >&2
	exit 2
}

[ $# -eq 4 ] || usage
name=$1
seconds=${PEERLOG_FUZZ_SECONDS:-$2}
srcdir=$3
builddir=$4

# The modules each harness needs, beside its own file and fuzz_util.c.
case $name in
escape) modules="escape.c" ;;
frame) modules="frame.c escape.c" ;;
octet) modules="frame.c escape.c" ;;
record) modules="record.c escape.c frame.c" ;;
addr) modules="addr.c" ;;
cidr) modules="cidr.c" ;;
opts) modules="opts.c addr.c cidr.c escape.c certname.c redisurl.c sdenv.c" ;;
source) modules="source.c" ;;
certname) modules="certname.c escape.c" ;;
proxy) modules="proxy.c" ;;
sdenv) modules="sdenv.c" ;;
*) usage ;;
esac
# libFuzzer reads -max_total_time=0 as "forever": at least one second.
case $seconds in
'' | *[!0-9]* | 0*)
	echo "run-fuzz.sh: SECONDS must be a whole number >= 1, not '$seconds'" >&2
	exit 2
	;;
esac

srcdir=$(cd "$srcdir" && pwd) || exit 2
mkdir -p "$builddir" && builddir=$(cd "$builddir" && pwd) || exit 2
work=$builddir/fuzz-$name
fuzzdir=$srcdir/tests/fuzz
mkdir -p "$work/corpus" "$work/artifacts" || exit 2

if ! command -v clang >/dev/null 2>&1; then
	echo "run-fuzz.sh: clang not found; skipped (apt-get install clang)" >&2
	exit 77
fi

# A target that does nothing tells whether libFuzzer's runtime links.
cat >"$work/probe.c" <<'PROBE'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}
PROBE
if ! clang -fsanitize=fuzzer,address,undefined -o "$work/probe" \
    "$work/probe.c" >"$work/probe.log" 2>&1; then
	cat "$work/probe.log" >&2
	echo "run-fuzz.sh: clang cannot link libFuzzer; skipped" \
	    "(apt-get install libclang-rt-14-dev)" >&2
	exit 77
fi

set -- "$fuzzdir/fuzz_$name.c" "$fuzzdir/fuzz_util.c"
for m in $modules; do
	set -- "$@" "$srcdir/src/$m"
done
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -std=c11 -D_GNU_SOURCE -Wall -Wextra -I"$srcdir/include" \
    -o "$work/fuzz-$name" "$@" || exit 1

cp "$fuzzdir/corpus/$name/"* "$work/corpus/" || exit 1

# libFuzzer's own exit code for a finding is 77, which meson would read as
# a skip: every finding, timeouts included, exits 1 instead.
cd "$work" || exit 2
echo "run-fuzz.sh: fuzz-$name for ${seconds}s; corpus $work/corpus," \
    "crashes in $work/artifacts/" >&2
"$work/fuzz-$name" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus"
