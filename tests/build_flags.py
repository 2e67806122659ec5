#!/usr/bin/env python3
"""Check the warning flags that meson.build means to enable really reach the
compiler: meson drops a flag it finds unsupported without a word (it tested
-Werror=format-security alone, which gcc rejects without -Wformat). Reads
BUILDDIR/compile_commands.json and prints TAP.

usage: build_flags.py BUILDDIR
"""
import json
import os
import shlex
import sys

# Flags every compile line must carry, checked on one file of each target.
REQUIRED = ["-Wformat", "-Werror=format-security"]
SOURCES = ["src/server.c", "src/peerlog.c", "src/record.c"]


# Return the argument list of the compile line of the source file rel.
def compile_args(commands, rel):
    for c in commands:
        if os.path.normpath(os.path.join(c["directory"], c["file"])).endswith(
                os.sep + rel):
            if "arguments" in c:
                return c["arguments"]
            return shlex.split(c["command"])
    return None


# Check every (file, flag) pair and print one TAP line each.
def main():
    builddir = sys.argv[1]
    with open(os.path.join(builddir, "compile_commands.json")) as f:
        commands = json.load(f)
    checks = [(rel, flag) for rel in SOURCES for flag in REQUIRED]
    print(f"1..{len(checks)}")
    failed = 0
    for n, (rel, flag) in enumerate(checks, 1):
        args = compile_args(commands, rel)
        ok = args is not None and flag in args
        print(f"{'ok' if ok else 'not ok'} {n} - {rel} is compiled with {flag}")
        if args is None:
            print(f"# no compile line for {rel}")
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
