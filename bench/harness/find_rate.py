"""--find-rate TARGET: echo-bench's rate search against each selected server, side by side.

Per repeat and cell the servers run in a shuffled order, each fresh on the server CPU with
the search on the client CPU, so the servers compared share the host's noise as the matrix
runs do. A server's figure is the median over repeats of the rate the search found; the
ratio to the floor is the median of the per-repeat ratios (paired), and the spread (lowest
and highest found) is printed beside it: on a shared machine a tail target finds the
noise as much as the server, and the spread says how much."""
import json
import os
import random
import statistics
import subprocess

from . import BENCH, log
from .cells import Cell, cell_name
from .measure import Server, bench_cmd, target_args
from .servers import FLOORS, speaks


def search(bench, name, argv, cell, target, start_rate, duration, warmup, files):
    """One search against a fresh server: echo-bench's find_rate object plus the trials."""
    mode, conns, size, kind = Cell(*cell)
    srv = Server(name, argv, files, kind)
    try:
        extra = ["--rate", str(start_rate), "--warmup", f"{warmup}s", "--find-rate", target]
        cmd = bench_cmd(bench, target_args(kind, srv.port, files), mode, conns, size, duration, extra)
        # At most 24 trials of warm-up plus duration each, and the connects between them.
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=24 * (duration + warmup + 10) + 60)
        objs = [json.loads(l) for l in res.stdout.splitlines() if l.startswith("{")]
        found = next((o["find_rate"] for o in objs if "find_rate" in o), None)
        out = {"server": name, "cell": cell_name(cell), "ok": found is not None and res.returncode == 0,
               "trials": [o for o in objs if "find_rate_trial" in o], "bench_exit": res.returncode}
        if found is not None:
            out.update(found)
        if not out["ok"]:
            out["error"] = f"echo-bench exit {res.returncode}: {res.stderr.strip()[-300:]}"
        return out
    finally:
        srv.close()


def run(bench, table, wanted, cells, target, start_rate, duration, warmup, repeat, files, seed=None,
        results_dir=None):
    """Runs every search; prints the table and writes find_rate.json. Returns the exit code."""
    results_dir = results_dir or os.path.join(BENCH, "results")
    rng = random.Random(seed)
    runs = []
    for rep in range(repeat):
        for cell in cells:
            order = [n for n in wanted if speaks(table, n, Cell(*cell).kind)]
            rng.shuffle(order)
            for name in order:
                r = search(bench, name, table[name][Cell(*cell).kind], cell, target, start_rate, duration, warmup,
                           files)
                r["repeat"] = rep
                runs.append(r)
                log(f"bench/run: find-rate {cell_name(cell)} {name} (repeat {rep + 1}/{repeat}): "
                    + (f"{r['rate']:,.0f} msgs/s, p99 {r['p99_us']:.0f} µs" if r["ok"] else r["error"]))
    lines = [f"### Highest rate with {target} (echo-bench --find-rate)", "",
             f"Median of {repeat} search(es) per server, trials of {warmup} s warm-up + {duration} s; "
             "×floor is the median of the per-repeat ratios; range is the lowest and highest rate found.", "",
             "| cell | server | msgs/s | ×floor | range | p50 µs | p99 µs | uncorrected p99 µs |",
             "|---|---|---:|---:|---|---:|---:|---:|"]
    ok = all(r["ok"] for r in runs) and bool(runs)
    for cell in cells:
        cn, kind = cell_name(cell), Cell(*cell).kind
        floor = FLOORS[kind]
        by_rep = {}
        for r in runs:
            if r["cell"] == cn and r["ok"]:
                by_rep.setdefault(r["repeat"], {})[r["server"]] = r
        for name in wanted:
            mine = [rep[name] for rep in by_rep.values() if name in rep]
            if not mine:
                continue
            ratios = [rep[name]["rate"] / rep[floor]["rate"] for rep in by_rep.values()
                      if name in rep and floor in rep and rep[floor]["rate"]]
            med = lambda key: statistics.median(r[key] for r in mine)  # noqa: E731
            lines.append(f"| {cn} | {name} | {med('rate'):,.0f} | "
                         f"{f'{statistics.median(ratios):.2f}×' if ratios else '–'} | "
                         f"{min(r['rate'] for r in mine):,.0f}–{max(r['rate'] for r in mine):,.0f} | "
                         f"{med('p50_us'):,.0f} | {med('p99_us'):,.0f} | {med('uncorrected_p99_us'):,.0f} |")
    print("\n".join(lines) + "\n")
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "find_rate.json"), "w") as f:
        json.dump({"target": target, "runs": runs}, f, indent=1)
    return 0 if ok else 1
