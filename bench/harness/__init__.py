"""The pieces of bench/run: build, /proc sampling, one measured run, targets, report.

Standard library only, so that bench/run works with any python3 and nothing to install.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
# The server and the load generator get their own cores (by default one each: on two
# cores, sharing one would measure the scheduler rather than the server). taskset lists;
# bench/run --server-cpus / --client-cpus and --threads-sweep change them.
CPUS = {"server": "0", "client": "1"}


def parse_cpus(text):
    """'0-3,6' -> [0, 1, 2, 3, 6]; ValueError on anything else."""
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi or lo)
        if first < 0 or last < first:
            raise ValueError(f"bad CPU list {text!r}")
        out.extend(range(first, last + 1))
    return sorted(set(out))


def cpu_list(cpus):
    return ",".join(str(c) for c in cpus)


class HarnessError(Exception):
    """Something the user asked for cannot be measured; bench/run reports it and exits 1."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)
