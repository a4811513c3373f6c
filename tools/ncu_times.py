#!/usr/bin/env python3
"""Each kernel launch's metrics from `ncu --metrics gpu__time_duration.sum[,more] --csv` (run_device.sh's
NCU_TIMES, NCU_TIMES_METRICS): the launches in order with their duration, then per kernel the count,
the median duration and the sum in microseconds, and the median of every other metric collected.

usage: ncu_times.py ncu-times.csv"""
import csv
import statistics
import sys

DURATION = "gpu__time_duration.sum"
SCALE_TO_US = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3, "s": 1e6, "second": 1e6}


def launches(lines):
    """(kernel, grid, block, {metric: value}) per launch, in order; durations in microseconds. The
    benchmark's own output lines are skipped."""
    rows = csv.reader(line for line in lines if line.startswith('"'))
    header = next(rows, None)
    if header is None:
        return []
    col = {name: i for i, name in enumerate(header)}
    found, index = [], {}
    for r in rows:
        if len(r) != len(header):
            continue
        metric, unit = r[col["Metric Name"]], r[col["Metric Unit"]]
        try:
            value = float(r[col["Metric Value"]].replace(",", ""))
        except ValueError:
            continue
        if metric == DURATION:
            value *= SCALE_TO_US[unit]
        launch = r[col["ID"]]  # ncu's launch number: one row per metric of a launch
        if launch not in index:
            name = r[col["Kernel Name"]].split("(")[0].split("<")[0].strip()
            template = r[col["Kernel Name"]][len(name):].split("(")[0]
            index[launch] = len(found)
            found.append((f"{name}{template}", r[col["Grid Size"]], r[col["Block Size"]], {}))
        found[index[launch]][3][metric] = value
    return found


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        found = [l for l in launches(f) if DURATION in l[3]]
    for i, (name, grid, block, m) in enumerate(found):
        print(f"{i:4d} {m[DURATION]:9.2f} us  grid {grid:>14} block {block:>12}  {name}")
    print("\nper kernel: launches, median us, sum us")
    by_name = {}
    for name, _, _, m in found:
        by_name.setdefault(name, []).append(m)
    for name, runs in sorted(by_name.items(), key=lambda kv: -sum(m[DURATION] for m in kv[1])):
        times = [m[DURATION] for m in runs]
        print(f"{len(times):5d} {statistics.median(times):9.2f} {sum(times):11.1f}  {name}")
        for metric in sorted({k for m in runs for k in m} - {DURATION}):
            values = [m[metric] for m in runs if metric in m]
            print(f"{'':27}median {statistics.median(values):>16.6g}  {metric}")


if __name__ == "__main__":
    main()
