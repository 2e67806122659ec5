#!/usr/bin/env python3
"""Count the test cases meson ran in each build dir: TAP subtests, pytest
cases (from the JUnit XML each black-box run writes) and plain tests as one
case each. Prints the closing line 'N passed, N failed'."""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

TAP_LINE = re.compile(r"^(not ok|ok)\b(.*)$")


def count_tap(text):
    passed = failed = skipped = 0
    for line in text.splitlines():
        m = TAP_LINE.match(line)
        if not m:
            continue
        if re.search(r"#\s*skip", m.group(2), re.I):
            skipped += 1
        elif m.group(1) == "ok":
            passed += 1
        else:
            failed += 1
    return passed, failed, skipped


def count_junit(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    passed = failed = skipped = 0
    for s in suites:
        total = int(s.get("tests", 0))
        f = int(s.get("failures", 0)) + int(s.get("errors", 0))
        sk = int(s.get("skipped", 0))
        passed += total - f - sk
        failed += f
        skipped += sk
    return passed, failed, skipped


def count_dir(builddir):
    passed = failed = skipped = 0
    log = os.path.join(builddir, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        return 0, 0, 0
    with open(log) as f:
        for line in f:
            t = json.loads(line)
            result = t.get("result")
            junit = os.path.join(builddir, "meson-logs",
                                 t["name"].split("/")[-1].strip() + ".xml")
            stdout = t.get("stdout") or ""
            if re.search(r"^1\.\.\d+", stdout, re.M):
                p, fl, s = count_tap(stdout)
                if result not in ("OK", "SKIP", "EXPECTEDFAIL") and fl == 0:
                    fl = 1  # crashed or timed out without a failing line
            elif os.path.exists(junit):
                p, fl, s = count_junit(junit)
                if result not in ("OK", "SKIP") and fl == 0:
                    fl = 1  # pytest itself failed (collection, timeout)
            else:
                p, fl, s = (1, 0, 0) if result == "OK" else \
                    (0, 0, 1) if result == "SKIP" else (0, 1, 0)
            passed += p
            failed += fl
            skipped += s
    return passed, failed, skipped


def main():
    totals = [0, 0, 0]
    for d in sys.argv[1:]:
        counts = count_dir(d)
        print(f"{d}: {counts[0]} passed, {counts[1]} failed, "
              f"{counts[2]} skipped")
        totals = [a + b for a, b in zip(totals, counts)]
    line = f"{totals[0]} passed, {totals[1]} failed"
    if totals[2]:
        line += f", {totals[2]} skipped"
    print(line)
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
