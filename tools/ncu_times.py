#!/usr/bin/env python3
"""Each kernel launch's duration from `ncu --metrics gpu__time_duration.sum --csv` (run_device.sh's
NCU_TIMES): the launches in order, then per kernel the count and the median, in microseconds.

usage: ncu_times.py ncu-times.csv"""
import csv
import statistics
import sys

SCALE_TO_US = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3, "s": 1e6, "second": 1e6}


def launches(lines):
    """(kernel, grid, block, microseconds) per launch; the benchmark's own output lines are skipped."""
    rows = csv.reader(line for line in lines if line.startswith('"'))
    header = next(rows, None)
    if header is None:
        return
    col = {name: i for i, name in enumerate(header)}
    for r in rows:
        if len(r) != len(header) or r[col["Metric Name"]] != "gpu__time_duration.sum":
            continue
        us = float(r[col["Metric Value"]].replace(",", "")) * SCALE_TO_US[r[col["Metric Unit"]]]
        name = r[col["Kernel Name"]].split("(")[0].split("<")[0].strip()
        template = r[col["Kernel Name"]][len(name):].split("(")[0]
        yield f"{name}{template}", r[col["Grid Size"]], r[col["Block Size"]], us


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        found = list(launches(f))
    for i, (name, grid, block, us) in enumerate(found):
        print(f"{i:4d} {us:9.2f} us  grid {grid:>14} block {block:>12}  {name}")
    print("\nper kernel: launches, median us, sum us")
    by_name = {}
    for name, _, _, us in found:
        by_name.setdefault(name, []).append(us)
    for name, times in sorted(by_name.items(), key=lambda kv: -sum(kv[1])):
        print(f"{len(times):5d} {statistics.median(times):9.2f} {sum(times):11.1f}  {name}")


if __name__ == "__main__":
    main()
