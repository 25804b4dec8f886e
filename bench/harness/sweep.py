"""--threads-sweep: how echo-svc's --threads scales. For each N, echo-svc --threads N runs
on N server CPUs with echo-bench on the remaining ones, beside N single-threaded floors
(one per server CPU, the connections split among them): the yardstick of N perfectly
independent cores. The sweep stops at the first N that leaves no CPU for the client."""
import json
import os
import statistics
import subprocess

from . import BENCH, CPUS, cpu_list, log
from .cells import Cell, cell_name
from .measure import Server, bench_cmd, one_run, target_args
from .procfs import cpu_ns
from .servers import svc_argv


def plan(sweep, cpus):
    """The Ns that fit on `cpus` (the client needs one CPU of its own), and why the sweep
    stops where it does (None when every N fits)."""
    fit = [n for n in sweep if n + 1 <= len(cpus)]
    stop = None
    if len(fit) < len(sweep):
        first = next(n for n in sweep if n + 1 > len(cpus))
        stop = (f"threads sweep stops at N={max(fit) if fit else 0}: N={first} needs {first} server CPUs and at "
                f"least one for echo-bench, and this machine lets bench/run use {len(cpus)} "
                f"(CPUs {cpu_list(cpus)})")
    return fit, stop


def floors_run(bench, floor_bin, n, server_cpus, cell, duration, warmup):
    """N floors, one per server CPU, each with its share of the connections; the sum."""
    mode, conns, size, kind = Cell(*cell)
    servers = [Server(f"floor-{i}", [floor_bin, "--port", "{port}"], cpus=str(server_cpus[i])) for i in range(n)]
    try:
        shares = [conns // n + (1 if i < conns % n else 0) for i in range(n)]
        def start(dur, extra=()):
            return [subprocess.Popen(bench_cmd(bench, target_args(kind, s.port, {}), mode, max(1, share), size, dur,
                                               extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for s, share in zip(servers, shares)]
        if warmup > 0:
            for p in start(warmup):
                p.communicate(timeout=120)
        cpu0 = [cpu_ns(s.pid) for s in servers]
        procs = start(duration)
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=duration + 120)
            lines = [l for l in out.splitlines() if l.startswith("{")]
            results.append(json.loads(lines[-1]) if lines and p.returncode == 0 else None)
        cpu = sum(cpu_ns(s.pid) - c for s, c in zip(servers, cpu0))
    finally:
        for s in servers:
            s.close()
    if any(r is None for r in results):
        return {"ok": False, "error": "a floor's echo-bench failed"}
    msgs = sum(r["msgs"] for r in results)
    return {"ok": True, "msgs_per_s": sum(r["msgs_per_s"] for r in results),
            "cpu_us_per_msg": cpu / 1000 / msgs if msgs else None}


def run(bench, bins, sweep, cells, duration, warmup, repeat, results_dir=None):
    """Runs the sweep; prints its table and writes sweep.json in `results_dir` (bench/results by
    default). Returns the exit code."""
    results_dir = results_dir or os.path.join(BENCH, "results")
    cpus = sorted(os.sched_getaffinity(0))
    fit, stop = plan(sweep, cpus)
    if stop:
        log(f"bench/run: {stop}")
    rows, runs, ok = [], [], True
    saved = dict(CPUS)
    try:
        for n in fit:
            CPUS["server"], CPUS["client"] = cpu_list(cpus[:n]), cpu_list(cpus[n:])
            for cell in cells:
                svc, fl = [], []
                for _ in range(repeat):
                    r = one_run(bench, f"echo-svc-t{n}", svc_argv(bins["echo-svc"], n), cell, duration, warmup)
                    f = floors_run(bench, bins["echo-floor"], n, cpus[:n], cell, duration, warmup)
                    ok = ok and r.get("ok") and f.get("ok")
                    svc.append(r)
                    fl.append(f)
                    runs.append({"threads": n, "cell": cell_name(cell), "echo_svc": r, "floors": f})
                    log(f"bench/run: sweep N={n} {cell_name(cell)}: echo-svc {r.get('msgs_per_s') or 0:,.0f} msgs/s, "
                        f"{n} floor(s) {f.get('msgs_per_s') or 0:,.0f} msgs/s")

                def med(rs, key):
                    v = [x[key] for x in rs if x.get("ok") and x.get(key) is not None]
                    return statistics.median(v) if v else None
                rows.append((n, cell_name(cell), med(svc, "msgs_per_s"), med(svc, "cpu_us_per_msg"),
                             med(fl, "msgs_per_s"), med(fl, "cpu_us_per_msg")))
    finally:
        CPUS.update(saved)
    lines = ["### Threads sweep: echo-svc --threads N on N server CPUs, beside N single-threaded floors", "",
             f"Medians of {repeat} repeat(s) × {duration} s; echo-bench on the CPUs the server does not use."]
    if stop:
        lines.append(f"The {stop}.")
    lines += ["", "| N | cell | echo-svc msgs/s | CPU µs/msg | N floors msgs/s | CPU µs/msg | msgs/s ×floors |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    fmt = lambda v, d=2: "–" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.{d}f}")  # noqa: E731
    for n, cn, sm, sc, fm, fc in rows:
        lines.append(f"| {n} | {cn} | {fmt(sm)} | {fmt(sc)} | {fmt(fm)} | {fmt(fc)} | "
                     f"{'–' if not sm or not fm else f'{sm / fm:.2f}×'} |")
    print("\n".join(lines) + "\n")
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "sweep.json"), "w") as f:
        json.dump({"cpus": cpus, "stop": stop, "runs": runs}, f, indent=1)
    return 0 if ok and rows else 1
