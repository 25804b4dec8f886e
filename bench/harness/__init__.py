"""The pieces of bench/run: build, /proc sampling, one measured run, targets, report.

Standard library only, so that bench/run works with any python3 and nothing to install.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
# The server and the load generator get one core each: on two cores, sharing one would
# measure the scheduler rather than the server.
SERVER_CPU = "0"
CLIENT_CPU = "1"


class HarnessError(Exception):
    """Something the user asked for cannot be measured; bench/run reports it and exits 1."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)
