#!/usr/bin/env python3
"""Condenses a device run (tests.xml, bench.json, baseline.json, check.txt under the given folder) into one JSON."""
import json
import pathlib
import sys
from xml.etree import ElementTree

out = pathlib.Path(sys.argv[1])
summary = {}
check = (out / "check.txt").read_text().splitlines() if (out / "check.txt").exists() else []
summary["gpu"] = check[1] if len(check) > 1 else "unknown"
summary["commit"] = check[2] if len(check) > 2 else "unknown"
summary["date"] = check[3] if len(check) > 3 else "unknown"

tests_file = out / "tests.xml"  # CTest's JUnit report
if tests_file.exists():
    cases = ElementTree.parse(tests_file).getroot().iter("testcase")
    status = {c.get("name"): c.get("status") for c in cases}
    summary["tests"] = {"total": len(status),
                        "failed": sorted(n for n, s in status.items() if s not in ("run", "notrun", "disabled")),
                        "skipped": sum(1 for s in status.values() if s in ("notrun", "disabled"))}

STANDARD = {"name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
            "repetition_index", "threads", "iterations", "real_time", "cpu_time", "time_unit", "error_occurred",
            "error_message"}


def bench_rows(path):
    """A Google Benchmark JSON's runs by name: their counters, or the time, or the error."""
    rows = {}
    try:
        runs = json.loads(path.read_text()).get("benchmarks", [])
    except json.JSONDecodeError as e:  # the binary died mid-run (a kernel fault aborts it): say so, keep the rest
        return {"unreadable": f"{path.name}: {e}; the run stopped early (see bench.txt)"}
    for b in runs:
        row = {k: round(v, 4) for k, v in b.items() if k not in STANDARD and isinstance(v, (int, float))}
        if not row:
            row = {"real_time": round(b["real_time"], 4), "time_unit": b["time_unit"]}
        if b.get("error_occurred"):
            row = {"error": b.get("error_message")}
        rows[b["name"]] = row
    return rows


# The tree's benchmarks, and BASELINE_BUILD's on the same filter.
for key, name in (("bench", "bench.json"), ("baseline", "baseline.json")):
    if (out / name).exists() and (out / name).stat().st_size > 0:
        summary[key] = bench_rows(out / name)
print(json.dumps(summary, indent=1))
