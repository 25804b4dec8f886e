#!/usr/bin/env python3
"""CTest driver for echo-bench's own behaviour: open loop and coordinated omission, the
achieved rate and the schedule lag, --find-rate, the .hgrm and SVG outputs, and each
probe class produced for real. Loopback only, port 0, every wait bounded; the stalls of
the coordinated-omission check are the load's shape (SIGSTOP/SIGCONT on a schedule),
not synchronisation.

  echo_bench_test.py --bench B stalls   --server CMD
  echo_bench_test.py --bench B agreement --server CMD
  echo_bench_test.py --bench B rate     --server CMD
  echo_bench_test.py --bench B udp-rate --server CMD
  echo_bench_test.py --bench B outputs  --server CMD
  echo_bench_test.py --bench B intervals --server CMD
  echo_bench_test.py --bench B connect-latency --server CMD
  echo_bench_test.py --bench B find-rate --slow-peer PEER
  echo_bench_test.py --bench B probe CLASS [--server CMD]
"""
import argparse
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import smoke  # noqa: E402
from harness import certs  # noqa: E402

PY = sys.executable
PEERS = os.path.join(os.path.dirname(HERE), "peers")
# How much of the uncorrected p50 the client may, on average per message, spend runnable
# without a CPU in an agreement try and still count as having kept its own schedule. Every
# send at 1000 msgs/s starts with a timer wake-up, so the run queue's wait lands on the send
# lag message by message: a few tens of microseconds per wake-up on a busy 2-core machine,
# which against a p50 of ~50 µs is the whole 10 % budget and more.
STARVED_SHARE = 0.05


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def bench_json(bench, args, timeout=60, expect_rc=0):
    """Runs echo-bench (a path, or a command line ending in one); the JSON objects it printed
    (one per line)."""
    cmd = (bench if isinstance(bench, list) else [bench]) + args + ["--progress", "off"]
    print("run:", shlex.join(cmd), flush=True)
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if expect_rc is not None and res.returncode != expect_rc:
        fail(f"echo-bench exit {res.returncode} (expected {expect_rc}): {res.stdout[-800:]} {res.stderr[-800:]}")
    return [json.loads(l) for l in res.stdout.splitlines() if l.startswith("{")], res


def target(host, port):
    return ["--host", host, "--port", str(port)]


class Stalls:
    """Stops `pid` with SIGSTOP for `stop_s` once every `period_s`, the first at `first_s`,
    until stopped (at most 60 rounds); always leaves it running."""

    def __init__(self, pid, first_s=0.5, period_s=1.0, stop_s=0.2):
        self.pid, self.first, self.period, self.stop_s = pid, first_s, period_s, stop_s
        self.done = threading.Event()
        self.count = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        t0 = time.monotonic()
        try:
            for k in range(60):
                if self.done.wait(max(0.0, t0 + self.first + k * self.period - time.monotonic())):
                    return
                os.kill(self.pid, signal.SIGSTOP)
                try:
                    self.count += 1
                    self.done.wait(self.stop_s)
                finally:
                    os.kill(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(timeout=5)


def pct(res, key):
    return res[key] / 1000.0  # ms


def check_stalls(args):
    proc, host, port = smoke.start_server(args.server)
    try:
        common = target(host, port) + ["-c", "4", "-s", "64", "--duration", "3s", "--warmup", "0.5s",
                                       "--timeout", "10s", "--json"]
        with Stalls(proc.pid) as st:
            (open_res,), _ = bench_json(args.bench, common + ["--rate", "1000"])
        open_stalls = st.count
        with Stalls(proc.pid) as st:
            (closed_res,), _ = bench_json(args.bench, common)
        closed_stalls = st.count
        unc = open_res["uncorrected"]
        print("\nUnder SIGSTOP 200 ms once a second (echo-svc, 4 connections, 64 B; ms):", flush=True)
        print(f"{'':34}{'p50':>10}{'p99':>10}{'p99.9':>10}{'max':>10}")
        print(f"{'open loop 1000/s, corrected':34}{pct(open_res, 'p50_us'):10.3f}{pct(open_res, 'p99_us'):10.3f}"
              f"{pct(open_res, 'p999_us'):10.3f}{pct(open_res, 'max_us'):10.3f}")
        print(f"{'open loop 1000/s, uncorrected':34}{pct(unc, 'p50_us'):10.3f}{pct(unc, 'p99_us'):10.3f}"
              f"{pct(unc, 'p999_us'):10.3f}{pct(unc, 'max_us'):10.3f}")
        print(f"{'closed loop (%.0f msgs/s)' % closed_res['msgs_per_s']:34}{pct(closed_res, 'p50_us'):10.3f}"
              f"{pct(closed_res, 'p99_us'):10.3f}{pct(closed_res, 'p999_us'):10.3f}{pct(closed_res, 'max_us'):10.3f}")
        print(f"stalls during the runs: open {open_stalls}, closed {closed_stalls}; open-loop send lag p99 "
              f"{open_res['schedule']['lag_p99_us']:.0f} us\n", flush=True)
        if open_stalls < 3 or closed_stalls < 3:
            fail("fewer than 3 stalls fell into a run")
        if open_res["p99_us"] < 150_000:
            fail(f"open-loop corrected p99 {open_res['p99_us']:.0f} us < 150 ms under 200 ms stalls")
        if closed_res["p99_us"] >= open_res["p99_us"]:
            fail("closed loop's p99 is not below open loop's: the omission it hides did not show")

        print("PASS", flush=True)
        return 0
    finally:
        smoke.stop_server(proc)


def check_agreement(args):
    """Without stalls the correction adds only the client's own lateness: corrected and
    uncorrected p50 and p90 must agree within 10 %. A client that waited for a CPU (the
    kernel's run queue, which echo-bench reports) is late for reasons outside it; such a try
    proves nothing either way and is repeated, and if every try was starved the test says
    so as a skip. A try where the client had its CPU and still disagrees fails."""
    proc, host, port = smoke.start_server(args.server)
    try:
        for attempt in range(5):
            (quiet,), _ = bench_json(args.bench, target(host, port) + [
                "-c", "4", "-s", "64", "--duration", "1s", "--warmup", "0.2s", "--rate", "1000", "--json"])
            u, sched = quiet["uncorrected"], quiet["schedule"]
            diffs = {"p50": abs(quiet["p50_us"] - u["p50_us"]) / u["p50_us"],
                     "p90": abs(quiet["p90_us"] - u["p90_us"]) / u["p90_us"]}
            waited = sched["client_cpu_wait_ms"]
            wait_per_msg_us = waited * 1000 / max(1, quiet["msgs"])
            print(f"no stalls, try {attempt + 1}: corrected p50 {quiet['p50_us']:.1f} p90 {quiet['p90_us']:.1f} "
                  f"p99 {quiet['p99_us']:.1f} us; uncorrected p50 {u['p50_us']:.1f} p90 {u['p90_us']:.1f} "
                  f"p99 {u['p99_us']:.1f} us; p50 and p90 differ by {diffs['p50'] * 100:.1f} %, "
                  f"{diffs['p90'] * 100:.1f} %; send lag p99 {sched['lag_p99_us']:.0f} us; the client waited "
                  f"{waited:.1f} ms for a CPU ({wait_per_msg_us:.1f} us per message)", flush=True)
            if all(d <= 0.10 for d in diffs.values()):
                print("PASS", flush=True)
                return 0
            if wait_per_msg_us <= STARVED_SHARE * u["p50_us"]:
                fail("corrected and uncorrected differ by more than 10 % although the client had its CPU")
        print(f"ECHO-TEST-SKIPPED: in all 5 tries the client waited for a CPU more than {STARVED_SHARE:.0%} of "
              "the uncorrected p50 per message "
              "(the machine is too busy to tell the client's own lateness from other work's)", flush=True)
        return 0
    finally:
        smoke.stop_server(proc)


def check_rate(args):
    proc, host, port = smoke.start_server(args.server)
    try:
        (res,), _ = bench_json(args.bench, target(host, port) + [
            "-c", "4", "--rate", "2000", "--duration", "2s", "--warmup", "0.2s", "--json"])
        achieved = res["msgs_per_s"]
        print(f"--rate 2000: achieved {achieved:.1f} msgs/s, sent {res['schedule']['sent']}, unsent "
              f"{res['schedule']['unsent']}, lag p99 {res['schedule']['lag_p99_us']:.0f} us", flush=True)
        if abs(achieved - 2000) > 0.02 * 2000:
            fail(f"achieved {achieved} msgs/s is not within 2 % of 2000")
        # Far beyond what one client thread can send on one connection.
        (res,), out = bench_json(args.bench, target(host, port) + [
            "-c", "1", "--rate", "20000000", "--duration", "1s", "--json"])
        sched = res["schedule"]
        print(f"--rate 20000000: achieved {res['msgs_per_s']:.0f} msgs/s, unsent {sched['unsent']}, lag max "
              f"{sched['lag_max_us']:.0f} us, behind {sched['behind']}", flush=True)
        if not sched["behind"] or sched["unsent"] == 0 or sched["lag_max_us"] <= 0:
            fail("a rate far beyond the machine was not reported as behind schedule")
        _, out = bench_json(args.bench, target(host, port) + ["-c", "1", "--rate", "20000000", "--duration", "0.5s"])
        if "BEHIND SCHEDULE" not in out.stdout:
            fail("the table does not say the client fell behind")
        print("PASS", flush=True)
        return 0
    finally:
        smoke.stop_server(proc)


def check_udp_rate(args):
    proc, host, port = smoke.start_server(args.server, transport="udp")
    try:
        (res,), _ = bench_json(args.bench, target(host, port) + [
            "--udp", "-c", "4", "--rate", "2000", "--duration", "1s", "--warmup", "0.2s", "--json"])
        d, sched = res["datagrams"], res["schedule"]
        print(f"udp --rate 2000: achieved {res['msgs_per_s']:.1f} msgs/s, sent {d['sent']}, lost {d['lost']}, "
              f"corrected p50 {res['p50_us']:.1f} us, uncorrected p50 {res['uncorrected']['p50_us']:.1f} us, "
              f"lag p99 {sched['lag_p99_us']:.0f} us", flush=True)
        if abs(res["msgs_per_s"] - 2000) > 0.02 * 2000 or d["lost"] != 0 or sched["unsent"] != 0:
            fail("UDP open loop did not echo 2000 datagrams/s within 2 % without loss")
        print("PASS", flush=True)
        return 0
    finally:
        smoke.stop_server(proc)


def parse_hgrm(path):
    rows, footer = [], {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if line.startswith("#["):
                for item in line.strip("#[]\n").split(","):
                    k, v = item.split("=")
                    footer[k.strip()] = float(v)
            elif len(parts) >= 3 and parts[0][0].isdigit():
                rows.append((float(parts[0]), float(parts[1]), int(parts[2])))
    return rows, footer


def check_outputs(args):
    proc, host, port = smoke.start_server(args.server)
    tmp = tempfile.TemporaryDirectory(prefix="echo-bench-out-")
    try:
        hgrm, svg = os.path.join(tmp.name, "lat.hgrm"), os.path.join(tmp.name, "lat.svg")
        (res,), _ = bench_json(args.bench, target(host, port) + [
            "-c", "2", "--rate", "4000", "--duration", "1s", "--json", "--histogram-out", hgrm, "--plot", svg])
        rows, footer = parse_hgrm(hgrm)
        if not rows or rows[-1][1] != 1.0 or rows[-1][2] != res["latency_samples"]:
            fail(f".hgrm does not end at percentile 1.0 with every sample: {rows[-1:]}")
        if footer.get("Total count") != res["latency_samples"]:
            fail(f".hgrm footer count {footer.get('Total count')} != {res['latency_samples']}")
        if abs(footer["Max"] * 1000 - res["max_us"]) > 0.01 * res["max_us"] + 0.01:
            fail(f".hgrm max {footer['Max']} ms != table {res['max_us']} us")

        # Rows sit at HdrHistogram's percentile levels: 50 % is one, so the table's p50 must
        # be that row's value; 99 % and 99.9 % fall between two rows, whose values bracket the
        # table's. Every row's count must cover its percentile.
        total = res["latency_samples"]
        for v, p, n in rows:
            if n < p * total - 1e-6:
                fail(f".hgrm row at {p} counts {n} of {total}")
        p50 = next(v for v, p, _ in rows if p == 0.5) * 1000
        print(f".hgrm p50: {p50:.2f} us, table {res['p50_us']:.2f} us", flush=True)
        if abs(p50 - res["p50_us"]) > 0.01 * res["p50_us"] + 0.01:
            fail(".hgrm p50 differs from the table's")
        for key, q in (("p99_us", 0.99), ("p999_us", 0.999)):
            below = max((v for v, p, _ in rows if p <= q), default=0) * 1000
            above = min((v for v, p, _ in rows if p >= q), default=float("inf")) * 1000
            print(f".hgrm rows around {key}: {below:.2f} .. {above:.2f} us, table {res[key]:.2f} us", flush=True)
            if not below - 0.01 <= res[key] <= above + 0.01:
                fail(f"the table's {key} lies outside the .hgrm rows around it")
        root = ET.parse(svg).getroot()
        ids = {p.get("id") for p in root.iter("{http://www.w3.org/2000/svg}polyline")}
        print(f"svg series: {sorted(ids)}", flush=True)
        if not {"corrected", "uncorrected"} <= ids:
            fail("the SVG lacks the corrected or the uncorrected series")
        for p in root.iter("{http://www.w3.org/2000/svg}polyline"):
            if len(p.get("points").split()) < 100:
                fail("a series has fewer than 100 points")
        print("PASS", flush=True)
        return 0
    finally:
        smoke.stop_server(proc)
        tmp.cleanup()

INTERVAL_LINE = re.compile(r"^\s*\[\s*(?P<t>[\d.]+)s\](?P<warmup> warmup)?\s+(?P<rate>[\d.]+) msgs/s\s+(?P<mb>[\d.]+) MB/s"
                           r"\s+p50\s+(?P<p50>[\d.]+)\s+p99\s+(?P<p99>[\d.]+)\s+p99\.9\s+(?P<p999>[\d.]+) us"
                           r"\s+errors (?P<errors>\d+)$")
INTERVAL_KEYS = ("interval", "t_s", "warmup", "msgs", "msgs_per_s", "mb_per_s", "p50_us", "p99_us", "p999_us",
                 "errors")


def check_interval_count(what, got, duration_s, interval_s):
    expected = duration_s / interval_s
    print(f"{what}: {got} intervals, {expected:.0f} expected", flush=True)
    if abs(got - expected) > 1:
        fail(f"{what}: {got} intervals over {duration_s} s at {interval_s} s each")


def check_intervals(args):
    """--interval: one line (text) or one JSON object per interval, each with its rate, MB/s,
    percentiles and errors, and the intervals' messages add up to the run's total."""
    proc, host, port = smoke.start_server(args.server)
    conns, interval_s, duration_s, warmup_s = 2, 0.2, 1.0, 0.2
    try:
        common = target(host, port) + ["-c", str(conns), "-s", "64", "--interval", "200ms"]
        _, res = bench_json(args.bench, common + ["--duration", "1s"])
        lines = [l for l in res.stdout.splitlines() if l.lstrip().startswith("[")]
        print("\n".join(lines), flush=True)
        rows = []
        for line in lines:
            m = INTERVAL_LINE.match(line)
            if not m:
                fail(f"interval line not understood: {line!r}")
            rows.append(m)
        check_interval_count("text", len(rows), duration_s, interval_s)
        for k, m in enumerate(rows, 1):
            if abs(float(m["t"]) - k * interval_s) > 1e-6 or m["warmup"] or int(m["errors"]) != 0:
                fail(f"interval {k}: {m.group(0)!r}")
            if float(m["rate"]) <= 0 or float(m["mb"]) <= 0 or not 0 < float(m["p50"]) <= float(m["p99"]) <= float(m["p999"]):
                fail(f"interval {k} has no load or unordered percentiles: {m.group(0)!r}")

        # Without a warm-up every message echoed is in the total and in exactly one interval.
        objs, _ = bench_json(args.bench, common + ["--duration", "1s", "--json"])
        intervals, (total,) = [o for o in objs if "interval" in o], [o for o in objs if "mode" in o]
        check_interval_count("json", len(intervals), duration_s, interval_s)
        for k, o in enumerate(intervals, 1):
            if set(INTERVAL_KEYS) - set(o) or o["interval"] != k or o["warmup"] or o["msgs"] <= 0:
                fail(f"interval object {k}: {o}")
            if not 0 < o["p50_us"] <= o["p99_us"] <= o["p999_us"]:
                fail(f"interval {k}: percentiles out of order: {o}")
        summed = sum(o["msgs"] for o in intervals)
        print(f"json: intervals sum to {summed} msgs, the run counts {total['msgs']}", flush=True)
        if summed != total["msgs"] or sum(o["errors"] for o in intervals) != total["errors"]["total"]:
            fail("the intervals' messages or errors do not add up to the run's")

        # With one: the warm-up's intervals are marked, and the rest add up to the total but
        # for the messages sent in the warm-up and echoed after it (at most one per
        # connection in a closed loop), which the total leaves out and an interval counts.
        objs, _ = bench_json(args.bench, common + ["--duration", "1s", "--warmup", "0.2s", "--json"])
        intervals, (total,) = [o for o in objs if "interval" in o], [o for o in objs if "mode" in o]
        check_interval_count("json with warm-up", len(intervals), warmup_s + duration_s, interval_s)
        marked = [o["warmup"] for o in intervals]
        if marked != [True] + [False] * (len(intervals) - 1):
            fail(f"warm-up marks {marked}: only the first 0.2 s interval is in the warm-up")
        summed = sum(o["msgs"] for o in intervals if not o["warmup"])
        print(f"json with warm-up: measured intervals sum to {summed} msgs, the run counts {total['msgs']}",
              flush=True)
        if not 0 <= summed - total["msgs"] <= conns:
            fail("the measured intervals do not add up to the run's total")
        print("PASS", flush=True)
        return 0
    finally:
        smoke.stop_server(proc)


def check_ordered(what, p50, p99, mx):
    if not 0 < p50 <= p99 <= mx:
        fail(f"{what}: p50 {p50}, p99 {p99}, max {mx} are not positive and in order")


def table_rows(text, names):
    """The table's 'connect' and 'first byte' rows: name -> (p50, p99, p99.9, max)."""
    rows = {}
    for line in text.splitlines():
        for name in names:
            m = re.match(rf"^\s*{name}\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", line)
            if m:
                rows[name] = tuple(float(v) for v in m.groups())
    return rows


def check_connect_latency(args):
    """Connect and first-byte latency in churn and pingpong: in the table and in JSON, positive,
    ordered, one connect sample per connection opened."""
    proc, host, port = smoke.start_server(args.server)
    try:
        for mode, conns in (("churn", 2), ("pingpong", 3)):
            common = target(host, port) + ["--mode", mode, "-c", str(conns), "-s", "64", "--duration", "0.5s"]
            _, res = bench_json(args.bench, common)
            rows = table_rows(res.stdout, ("connect", "first byte"))
            print(f"{mode} table: {rows}", flush=True)
            if set(rows) != {"connect", "first byte"}:
                fail(f"{mode}: the table lacks the connect or first byte row:\n{res.stdout}")
            for name, (p50, p99, p999, mx) in rows.items():
                check_ordered(f"{mode} table {name}", p50, p99, mx)
                if not p99 <= p999 <= mx:
                    fail(f"{mode} table {name}: p99.9 {p999} not between p99 and max")

            (res,), _ = bench_json(args.bench, common + ["--json"])
            opened = res["conns"] if mode == "churn" else conns
            for key in ("connect", "first_byte"):
                h = res.get(key)
                if h is None:
                    fail(f"{mode}: no {key} in the JSON: {res}")
                print(f"{mode} json {key}: {h}", flush=True)
                check_ordered(f"{mode} json {key}", h["p50_us"], h["p99_us"], h["max_us"])
                if not h["p50_us"] <= h["p90_us"] <= h["p99_us"] <= h["p999_us"] <= h["max_us"]:
                    fail(f"{mode} json {key}: percentiles out of order")
            print(f"{mode}: {res['connect']['samples']} connect samples, {opened} connections opened", flush=True)
            if res["errors"]["total"] != 0 or opened <= 0 or res["connect"]["samples"] != opened:
                fail(f"{mode}: connect samples {res['connect']['samples']} != connections opened {opened}")
            if res["first_byte"]["samples"] != opened:
                fail(f"{mode}: first-byte samples {res['first_byte']['samples']} != connections {opened}")
        print("PASS", flush=True)
        return 0
    finally:
        smoke.stop_server(proc)


def check_find_rate(args):
    service_s, target_ms, warmup_s, duration_s = 0.002, 20, 0.2, 1.0
    proc, host, port = smoke.start_server(f"{PY} {args.slow_peer} --slow {service_s} --message-size 64")
    try:
        lines, res = bench_json(args.bench, target(host, port) + [
            "-c", "1", "-s", "64", "--rate", "400", "--duration", f"{duration_s}s", "--warmup", f"{warmup_s}s",
            "--find-rate", f"p99<{target_ms}ms", "--json"], timeout=120)
        found = lines[-1]["find_rate"]
        capacity = 1 / service_s
        # Past capacity the backlog, so the wait, grows linearly from the start of the load;
        # p99 is reached by the message sent 0.99 of the way through the measured window.
        crossing = capacity * (1 + (target_ms / 1000 - service_s) / (warmup_s + 0.99 * duration_s))
        err = abs(found["rate"] - crossing) / crossing
        print(f"find-rate p99<{target_ms}ms against a peer of {service_s * 1000:.0f} ms per message: found "
              f"{found['rate']:.1f} msgs/s (p99 {found['p99_us'] / 1000:.2f} ms) after {len(lines) - 1} trials; "
              f"capacity {capacity:.0f}, expected crossing {crossing:.1f} msgs/s: off by {err * 100:.1f} %", flush=True)
        if err > 0.05:
            fail("not within 5 % of the crossing rate")
        print("PASS", flush=True)
        return 0
    finally:
        smoke.stop_server(proc)


def fill_backlog(port):
    """Connects until one connect does not complete within 0.3 s (the listener's queue is
    full); returns the sockets to keep open."""
    held = []
    for _ in range(16):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        _, w, _ = select.select([], [s], [], 0.3)
        held.append(s)
        if not w:
            return held
    fail("the listener's queue never filled")


def check_probe(args):
    cls = args.cls
    if cls in ("TLS", "OK") and shutil.which("openssl") is None:
        # The line CTest's SKIP_REGULAR_EXPRESSION turns into a skip.
        print("ECHO-TEST-SKIPPED: no openssl command to make the test certificate", flush=True)
        return 0
    tmp = tempfile.TemporaryDirectory(prefix="echo-bench-probe-")
    proc, held, extra = None, [], []
    try:
        if cls == "REFUSED":
            holder = socket.socket()
            holder.bind(("127.0.0.1", 0))  # bound, never listening: refused, and no one else takes it
            held.append(holder)
            url = f"tcp://127.0.0.1:{holder.getsockname()[1]}"
        elif cls == "DNS":
            url = "tcp://echo-bench-probe-test.invalid:7"  # .invalid never resolves (RFC 2606)
        elif cls == "UNREACHABLE":
            # In a network namespace of its own, where only a downed lo exists, no address has a
            # route: connect() fails with ENETUNREACH before any packet is sent anywhere.
            if shutil.which("unshare") is None or subprocess.run(["unshare", "--net", "true"],
                                                                 capture_output=True).returncode != 0:
                print("ECHO-TEST-SKIPPED: cannot create a network namespace (unshare --net needs root)", flush=True)
                return 0
            args.bench = ["unshare", "--net", args.bench]
            url = "tcp://192.0.2.1:7"  # TEST-NET-1 (RFC 5737), never routed anyway
        elif cls in ("TIMEOUT", "RESET", "SHORT"):
            flag = {"TIMEOUT": "--no-accept", "RESET": "--reset", "SHORT": "--short"}[cls]
            proc, host, port = smoke.start_server(f"{PY} {PEERS}/faulty_server.py {flag}")
            if cls == "TIMEOUT":
                held = fill_backlog(port)
                extra = ["--timeout", "1s"]
            url = f"tcp://{host}:{port}"
        elif cls == "MISMATCH":
            proc, host, port = smoke.start_server(f"{PY} {PEERS}/corrupt_server.py")
            url = f"tcp://{host}:{port}"
            extra = ["--size", "3000"]  # the peer flips a bit in every 1000th byte
        elif cls == "TLS":
            files = certs.make(tmp.name)
            proc, host, port = smoke.start_server(args.server + " --listen tls://127.0.0.1:0 --tls-cert {cert} "
                                                  "--tls-key {key}", params=files, transport="tls")
            url = f"tcp://{host}:{port}"  # plain TCP against the TLS port
        elif cls == "OK":
            files = certs.make(tmp.name)
            files["path"] = os.path.join(tmp.name, "echo.sock")
            cmd = [a.format(**files) for a in shlex.split(args.server)] + [
                "--listen", "tcp://127.0.0.1:0", "--listen", "tls://127.0.0.1:0", "--listen", "udp://127.0.0.1:0",
                "--listen", f"unix://{files['path']}", "--tls-cert", files["cert"], "--tls-key", files["key"]]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
            urls = []
            deadline = time.monotonic() + 15
            while len(urls) < 4 and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                if line.startswith("listening on ") and not line.startswith("listening on http"):
                    url = line.split()[-1]
                    urls.append(url if "://" in url else "tcp://" + url)  # echo-svc's TCP line has no scheme
            if len(urls) < 4:
                fail(f"echo-svc did not list its four listeners: {urls}")
            for url in urls:
                lines, _ = bench_json(args.bench, ["--mode", "probe", "--target", url, "--count", "3", "--rate", "50"])
                print("\n".join(json.dumps(l) for l in lines), flush=True)
            print("PASS", flush=True)
            return 0
        else:
            fail(f"unknown class {cls}")
        lines, _ = bench_json(args.bench, ["--mode", "probe", "--target", url, "--count", "2", "--rate", "20",
                                           "--expect", cls] + extra)
        print("\n".join(json.dumps(l) for l in lines), flush=True)
        if [l["class"] for l in lines if "attempt" in l] != [cls, cls]:
            fail(f"expected two attempts of class {cls}")
        # And without --expect the same run fails: a blocked path is not a pass by default.
        bench_json(args.bench, ["--mode", "probe", "--target", url, "--count", "1"] + extra, expect_rc=1)
        print("PASS", flush=True)
        return 0
    finally:
        for s in held:
            s.close()
        if proc is not None:
            smoke.stop_server(proc)
        tmp.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    sub = ap.add_subparsers(dest="check", required=True)
    for name in ("stalls", "agreement", "rate", "udp-rate", "outputs", "intervals", "connect-latency"):
        sub.add_parser(name).add_argument("--server", required=True)
    sub.add_parser("find-rate").add_argument("--slow-peer", required=True)
    p = sub.add_parser("probe")
    p.add_argument("cls")
    p.add_argument("--server", default="")
    args = ap.parse_args()
    return {"stalls": check_stalls, "agreement": check_agreement, "rate": check_rate, "udp-rate": check_udp_rate, "outputs": check_outputs,
            "intervals": check_intervals, "connect-latency": check_connect_latency, "find-rate": check_find_rate,
            "probe": check_probe}[args.check](args)


if __name__ == "__main__":
    sys.exit(main())
