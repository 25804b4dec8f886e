#!/usr/bin/env python3
"""CTest driver for bench/run itself, on binaries already built (--no-build): the threads
sweep stops where the machine's CPUs run out and says why, --server-cpus/--client-cpus end
up in the report, the ratio chart is well-formed SVG with one bar per cell and server, and
--find-rate searches each server side by side.
One cell, one repeat, half a second per run; results go to a temporary directory, so the
committed bench/results is never touched.

  bench_run_test.py --build-dir DIR sweep
  bench_run_test.py --build-dir DIR report
  bench_run_test.py --build-dir DIR find-rate
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.path.join(os.path.dirname(HERE), "run")
COMMITTED = os.path.join(os.path.dirname(HERE), "results", "latest.json")
SVG = "{http://www.w3.org/2000/svg}"
CELL = "pingpong:1:64"


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def skip(msg):
    # The line CTest's SKIP_REGULAR_EXPRESSION turns into a skip.
    print(f"ECHO-TEST-SKIPPED: {msg}", flush=True)
    sys.exit(0)


def bench_run(build_dir, results_dir, args):
    cmd = [sys.executable, RUN, "--no-build", "--build-dir", build_dir, "--results-dir", results_dir,
           "--cells", CELL, "--repeat", "1", "--duration", "0.5", "--warmup", "0", "--no-results-md"] + args
    print("run:", " ".join(cmd), flush=True)
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    print(res.stderr[-3000:], flush=True)
    if res.returncode != 0:
        fail(f"bench/run exit {res.returncode}: {res.stdout[-1500:]}")
    return res


def check_sweep(args, tmp):
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        skip("one CPU: no N leaves one for echo-bench")
    # The second N always needs one CPU more than there are: on two cores, 1,2.
    n = len(cpus)
    res = bench_run(args.build_dir, tmp, ["--threads-sweep", f"1,{n}"])
    why = f"threads sweep stops at N=1: N={n} needs {n} server CPUs and at least one for echo-bench"
    if why not in res.stderr:
        fail(f"bench/run did not say why the sweep stops ({why!r})")
    if why not in res.stdout:
        fail("the sweep's table does not say why it stops")
    with open(os.path.join(tmp, "sweep.json")) as f:
        sweep = json.load(f)
    threads = sorted({r["threads"] for r in sweep["runs"]})
    print(f"sweep.json: stop {sweep['stop']!r}; runs for N = {threads}", flush=True)
    if threads != [1] or why not in (sweep["stop"] or ""):
        fail("sweep.json does not hold N=1 alone and the reason it stops")
    run = sweep["runs"][0]
    if not (run["echo_svc"].get("ok") and run["floors"].get("ok") and run["echo_svc"].get("msgs_per_s")):
        fail(f"the N=1 run has no clean result: {run}")
    if "| 1 | pingpong:1:64 |" not in res.stdout:
        fail("the sweep's table has no row for N=1")


def check_report(args, tmp):
    cpus = os.sched_getaffinity(0)
    if not {0, 1} <= cpus:
        skip("CPUs 0 and 1 are not both available")
    res = bench_run(args.build_dir, tmp, ["--servers", "echo-svc-1", "--server-cpus", "0", "--client-cpus", "1"])
    with open(os.path.join(tmp, "latest.json")) as f:
        latest = json.load(f)
    meta = latest["meta"]
    print(f"latest.json: server_cpus {meta.get('server_cpus')!r}, client_cpus {meta.get('client_cpus')!r}, "
          f"servers {latest['servers']}, cells {latest['cells']}", flush=True)
    if meta.get("server_cpus") != "0" or meta.get("client_cpus") != "1":
        fail("the CPUs asked for are not in latest.json")
    if "--server-cpus 0 --client-cpus 1" not in meta.get("command", ""):
        fail(f"the command recorded is not the one run: {meta.get('command')!r}")
    if "server on CPU 0, echo-bench on CPU 1" not in res.stdout:
        fail("the table's header does not name the CPUs")

    # One bar per (cell, server other than the floor) in each panel, its title naming both.
    root = ET.parse(os.path.join(tmp, "latest.svg")).getroot()
    if root.tag != SVG + "svg":
        fail(f"latest.svg's root is {root.tag}")
    rows = [(c, s) for c in latest["cells"] for s in latest["servers"] if s != "floor"]
    for panel in ("cpu", "rate"):
        g = [e for e in root.iter(SVG + "g") if e.get("id") == panel]
        if len(g) != 1:
            fail(f"latest.svg has {len(g)} panels '{panel}'")
        titles = [r.findtext(SVG + "title") for r in g[0].iter(SVG + "rect")]
        print(f"latest.svg {panel}: {titles}", flush=True)
        if len(titles) != len(rows) or any(not t.startswith(f"{c} {s}: ") for t, (c, s) in zip(titles, rows)):
            fail(f"panel '{panel}' does not have one bar for each of {rows}")


def check_find_rate(args, tmp):
    # A lenient target, so every trial of a working server meets it until the client's own
    # limit: the point is the side-by-side mechanics (fresh servers, paired ratios, the JSON),
    # not a figure. bench-find-rate checks the search itself against a peer of known capacity.
    res = bench_run(args.build_dir, tmp, ["--find-rate", "p99<1s", "--servers", "echo-svc-1", "--start-rate", "500",
                                          "--duration", "0.2"])
    with open(os.path.join(tmp, "find_rate.json")) as f:
        found = json.load(f)
    runs = {r["server"]: r for r in found["runs"]}
    print(f"find_rate.json: target {found['target']!r}; "
          + ", ".join(f"{n} {r.get('rate')} msgs/s in {len(r['trials'])} trials" for n, r in runs.items()), flush=True)
    if found["target"] != "p99<1s" or sorted(runs) != ["echo-svc-1", "floor"]:
        fail("find_rate.json does not hold one search for echo-svc-1 and one for the floor")
    for name, r in runs.items():
        if not (r["ok"] and r["rate"] > 0 and r["trials"] and r["p99_us"] < 1e6):
            fail(f"the search against {name} did not end in a rate that meets the target: {r}")
    if f"| {CELL} | floor | " not in res.stdout or f"| {CELL} | echo-svc-1 | " not in res.stdout:
        fail("the find-rate table lacks a row for each server")
    if "| 1.00× |" not in res.stdout:
        fail("the floor's row is not its own yardstick (1.00×)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("check", choices=("sweep", "report", "find-rate"))
    args = ap.parse_args()
    with open(COMMITTED, "rb") as f:
        committed = f.read()
    with tempfile.TemporaryDirectory(prefix="bench-run-test-") as tmp:
        {"sweep": check_sweep, "report": check_report, "find-rate": check_find_rate}[args.check](args, tmp)
    with open(COMMITTED, "rb") as f:
        if f.read() != committed:
            fail("bench/results/latest.json changed: --results-dir was not honoured")
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
