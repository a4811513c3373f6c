#!/usr/bin/env python3
"""Finds writes to the A-fragment registers of an HGMMA (wgmma with A from registers) still in flight.

ptxas does not treat those registers as live until the wgmma.wait_group that retires the wgmma: a kernel
that writes registers while an older group still reads its own (as session 21's three-set prefill variant
did) gets them reused, and wrong, run-dependent results (bench/METHOD.md). The PTX ISA leaves such writes
undefined; this scan shows them in the SASS.

Usage: sass_wgmma_hazards.py FILE.sass...   (nvdisasm output, e.g. from MXJIT_DUMP=sass)
Prints one line per file (and the first writes found); exits 1 if any file has one.

The scan is linear in address order, which suits the unrolled main loops it is for: a group stays in
flight from its last HGMMA (the one marked gsb0) until a WARPGROUP.DEPBAR.LE leaves fewer groups pending.
"""
import re
import sys

INSTRUCTION = re.compile(r"/\*([0-9a-f]{4,6})\*/\s+(?:@!?U?P[T0-9]+\s+)?([A-Z0-9_.]+)\s*([^;]*);")


def registers(operand, count):
    match = re.fullmatch(r"R(\d+)(?:\.reuse)?", operand.strip())
    return set(range(int(match.group(1)), int(match.group(1)) + count)) if match else set()


def written_width(opcode):
    """Registers a destination operand covers: 128-bit loads write 4, 64-bit ones and wide multiplies 2."""
    if ".128" in opcode:
        return 4
    if ".64" in opcode or ".WIDE" in opcode:
        return 2
    return 1


def scan(path, shown=5):
    in_flight = []     # register sets of committed, unretired groups, oldest first
    issuing = set()    # registers of the group being issued
    hazards = []
    for line in open(path, encoding="utf-8", errors="replace"):
        match = INSTRUCTION.search(line)
        if not match:
            continue
        address, opcode, operands = match.groups()
        parts = [p.strip() for p in operands.split(",")]
        if opcode.startswith("HGMMA"):
            if len(parts) > 1:
                issuing |= registers(parts[1], 4)
            if "gsb0" in operands:
                in_flight.append(issuing)
                issuing = set()
        elif opcode.startswith("WARPGROUP.DEPBAR"):
            pending = int(parts[-1], 16)
            in_flight = in_flight[len(in_flight) - pending:] if pending else []
        elif parts and parts[0].startswith("R") and in_flight:
            hit = registers(parts[0], written_width(opcode)) & set().union(*in_flight)
            if hit:
                hazards.append(f"  {address} {opcode} {operands[:50]}: writes R{min(hit)} of a group in flight")
    name = path.rsplit("/", 1)[-1]
    print(f"{name}: {len(hazards)} writes to in-flight HGMMA A registers")
    for h in hazards[:shown]:
        print(h)
    return len(hazards)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(1 if sum(scan(p) for p in sys.argv[1:]) else 0)
