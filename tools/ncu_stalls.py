#!/usr/bin/env python3
"""Where a kernel's warps wait, from the per-SASS-instruction CSV that run_device.sh writes with ncu
(`ncu --page source --print-source sass --csv`): the stall reasons summed over the kernel, then the
instructions with the most samples and their top reasons.

usage: ncu_stalls.py ncu-sass.csv [top]"""
import csv
import sys


def number(text):
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    with open(sys.argv[1], newline="") as f:
        rows = list(csv.reader(f))
    kernel = rows[0][1] if rows and len(rows[0]) > 1 else "unknown kernel"
    header, data = rows[1], rows[2:]
    col = {name: i for i, name in enumerate(header)}
    samples = col["Warp Stall Sampling (All Samples)"]
    reasons = [h for h in header if h.startswith("stall_") and "(Not Issued)" not in h]
    total = sum(number(r[samples]) for r in data) or 1.0
    print(f"{kernel}\n{len(data)} SASS instructions, {total:.0f} stall samples\n\nstall reasons, whole kernel:")
    sums = {h: sum(number(r[col[h]]) for r in data) for h in reasons}
    for h, v in sorted(sums.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {h[6:]:20s} {v:10.0f} {100 * v / total:5.1f}%")
    print(f"\ninstructions with the most samples (address, samples, executions, SASS | top reasons):")
    for r in sorted(data, key=lambda r: -number(r[samples]))[:top]:
        best = sorted(((h[6:], number(r[col[h]])) for h in reasons), key=lambda kv: -kv[1])[:3]
        why = ", ".join(f"{h}={v:.0f}" for h, v in best if v > 0)
        print(f"  {r[0][-5:]} {number(r[samples]):8.0f} {r[col['Instructions Executed']]:>11s}  {r[1][:64]:64s} | {why}")


if __name__ == "__main__":
    main()
