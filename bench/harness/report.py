"""The report of a run: bench/results/latest.{json,md}, bench/RESULTS.md and stdout."""
import datetime
import json
import os
import platform
import statistics
import subprocess

from . import BENCH, CPUS, ROOT
from . import targets as targets_mod
from . import chart
from .cells import Cell, cell_name, kinds, parse_cells, rate_key
from .servers import BASE, FLOORS, REFERENCE, label, reference
from .stats import medians, paired_ratio, ratio

# Other load on the server's core, in percent, above which a run is flagged as noisy.
NOISY_OTHER_PCT = 5


def fmt(v, digits=2):
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}f}"


def fmt_ratio(v):
    return "–" if v is None else f"{v:.2f}×"


def fmt_ratio3(v):
    # Three decimals: 0.998 printed as "1.00×" next to a miss of "≥1.0×" reads as a bug.
    return "–" if v is None else f"{v:.3f}×"


def progress_line(done, total, elapsed, cell, name, r):
    status = "ok" if r.get("ok") else f"FAILED: {r.get('error')}"
    return (f"[{done}/{total} {elapsed:6.1f}s] {cell_name(cell):>20} {name:>14}: "
            f"cpu/msg {fmt(r.get('cpu_us_per_msg'))} µs  msgs/s {fmt(r.get('msgs_per_s'), 0)}  "
            f"MB/s {fmt(r.get('mb_per_s'), 1)}  p50 {fmt(r.get('p50_us'), 1)} µs  "
            f"{'rss/conn ' + fmt(r.get('rss_per_conn'), 0) + ' B  ' if cell[0] == 'idle' else ''}{status}")


def quietness(runs):
    other = [r["cpu0_other_pct"] for r in runs if r.get("cpu0_other_pct") is not None]
    groups = {}
    for r in runs:
        if r.get("ok") and r.get("cpu_us_per_msg"):
            groups.setdefault((r["server"], r["cell"]), []).append(r["cpu_us_per_msg"])
    spreads = [(max(v) - min(v)) / statistics.median(v) for v in groups.values() if len(v) > 1]
    text = ""
    if other:
        text += (f"Other load on CPU 0 during measured runs: median {statistics.median(other):.1f}%, "
                 f"max {max(other):.1f}% (≈0 on a quiet machine; above ~{NOISY_OTHER_PCT}% the figures "
                 "are noisy).")
    if spreads:
        text += (f" Spread of CPU/msg across repeats ((max−min)/median): median "
                 f"{statistics.median(spreads) * 100:.0f}%.")
    return text


def mark(ok):
    return "✅" if ok else "❌"


def targets_section(spec, summary, cells, runs, server):
    rows = targets_mod.check(spec, summary, cells, runs, server, REFERENCE)
    if not rows:
        return []
    lines = []
    for row in rows:
        t = row["target"]
        if "unit" in t:
            # The cell already says "per connection": the value carries the bare unit.
            shown = f"{row['median']:,.0f} {t['unit'].split('/')[0]}"
            lines.append(f"| {row['cell']} | {row['label']} | {shown} | {mark(row['median_met'])} | "
                         f"{shown} | {mark(row['paired_met'])} |")
            continue
        paired = row["paired"]
        lines.append(f"| {row['cell']} | {row['label']} | {fmt_ratio3(row['median'])} | "
                     f"{mark(row['median_met'])} | {fmt_ratio3(paired)} | "
                     f"{'–' if paired is None else mark(row['paired_met'])} |")
    met_median = sum(r["median_met"] for r in rows)
    met_paired = sum(r["paired_met"] for r in rows)
    return ([f"### Targets for {server}: {met_median}/{len(rows)} met on the ratio of medians, "
             f"{met_paired}/{len(rows)} on the median of paired ratios", "",
             "Ratio of medians: median of the server's runs over median of the floor's. Paired: for each "
             "repeat, the server's run over the floor's run of the same repeat (seconds apart), then the "
             "median of those ratios; it cancels drift that both servers see.", "",
             "| cell | target | ratio of medians | met | paired ratio | met |",
             "|---|---|---:|:---:|---:|:---:|"] + lines + [""])


def base_section(summary, servers, cells, runs, meta):
    """Every server against base, the previous engine run as echo-svc-1 is: the comparison
    that says whether a change to the engine helped, next to the floor's absolute yardstick."""
    compared = [s for s in servers if s != BASE and s not in FLOORS.values()]
    rows = []
    for c in cells:
        cn = cell_name(c)
        b = summary.get((BASE, cn))
        if not b or b["repeats_ok"] == 0:
            continue
        rk = rate_key(c[0])
        for s in compared:
            m = summary.get((s, cn))
            if not m or m["repeats_ok"] == 0:
                continue
            rows.append("| " + " | ".join([
                cn, s,
                fmt_ratio3(ratio(m["cpu_us_per_msg"], b["cpu_us_per_msg"])),
                fmt_ratio3(paired_ratio(runs, s, cn, "cpu_us_per_msg", BASE)),
                fmt_ratio3(ratio(m[rk], b[rk])), fmt_ratio3(paired_ratio(runs, s, cn, rk, BASE)),
                fmt_ratio(ratio(m["p50_us"], b["p50_us"])), fmt_ratio(ratio(m["p99_us"], b["p99_us"]))]) + " |")
    if not rows:
        return []
    where = f" (`{meta['base']}`)" if meta.get("base") else ""
    return ([f"### Ratios to base{where}", "",
             "base is the previous echo-svc, run with echo-svc-1's arguments. Same two figures as for the "
             "floor: ratio of medians, and the median of paired ratios (each repeat's run over base's run "
             "of that repeat). Rate = msgs/s, MB/s or conn/s as above; idle: RSS per connection.", "",
             "| cell | server | CPU/msg ×base | paired | rate ×base | paired | p50 ×base | p99 ×base |",
             "|---|---|---:|---:|---:|---:|---:|---:|"] + rows + [""])


def markdown(summary, servers, cells, meta, runs=(), spec=None):
    lines = []
    lines.append(f"Machine: {meta['cpu']}, {meta['cores']} cores, Linux {meta['kernel']}; "
                 f"{meta['date']}; `/dev/cpu_dma_latency` {meta['dma_latency']}.  ")
    lines.append(f"Run: `{meta['command']}`: {meta['repeat']} repeat(s) × {meta['duration']} s per cell "
                 f"(+{meta['warmup']} s warm-up), medians; server on CPU {meta.get('server_cpus', CPUS['server'])}, "
                 f"echo-bench on CPU {meta.get('client_cpus', CPUS['client'])}; git {meta['git']}.  ")
    q = quietness(runs)
    if q:
        lines.append(q)
    other = [r["cpu0_other_pct"] for r in runs if r.get("cpu0_other_pct") is not None]
    if other and statistics.median(other) > NOISY_OTHER_PCT:
        lines.append("")
        lines.append("> **Noisy run**: other work shared CPU 0 with the server for much of the run, so "
                     "single ratios below can be off by 2× either way. Re-run on a quiet machine "
                     "before reading targets from this table.")
    lines.append("")
    lines.append("Ratios are to **floor** (bench/peers/floor.c). CPU = server user+sys per message "
                 "(churn: per connection), lower is better; rate = msgs/s (pingpong), MB/s (stream), "
                 "conn/s (churn), higher is better; idle = server RSS growth per connection, bytes.")
    if set(kinds(cells)) - {"tcp"}:
        lines.append("Cells of another transport are to the floor of their kind: unix-* to floor over a "
                     "Unix socket, tls-* to **tls-floor** (bench/peers/tls_floor.c), udp-* to **udp-floor** "
                     "(bench/peers/udp_floor.c); a cell runs only the servers that speak its transport. "
                     "UDP rates count verified echoes; lost datagrams are in latest.json.")
    if "mptcp" in kinds(cells):
        lines.append("mptcp-* cells: echo-bench connects with MPTCP to every server; floor.c has no MPTCP "
                     "listener, so **floor (TCP)** serves plain TCP there (the kernel falls back) and the "
                     "ratio is echo-svc's MPTCP over the TCP floor.")
    lines.append("")
    have = [s for s in servers if any(summary.get((s, cell_name(c))) for c in cells)]
    lines.append("### Summary: server CPU per message ×floor / rate ×floor")
    lines.append("")
    lines.append("| cell | " + " | ".join(have) + " |")
    lines.append("|---|" + "---|" * len(have))
    for c in cells:
        cn = cell_name(c)
        fl = summary.get((reference(Cell(*c).kind), cn))
        row = [cn]
        for s in have:
            m = summary.get((s, cn))
            if not m or m["repeats_ok"] == 0:
                row.append("FAILED" if m else "")
                continue
            if c[0] == "idle":
                row.append(f"{fmt(m['rss_per_conn'], 0)} B/conn ({fmt_ratio(ratio(m['rss_per_conn'], fl and fl['rss_per_conn']))})")
                continue
            rk = rate_key(c[0])
            row.append(f"{fmt_ratio(ratio(m['cpu_us_per_msg'], fl and fl['cpu_us_per_msg']))} / "
                       f"{fmt_ratio(ratio(m[rk], fl and fl[rk]))}")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    spec = spec if spec is not None else targets_mod.load()
    for server in spec["servers"]:
        if server in have:
            lines.extend(targets_section(spec, summary, cells, runs, server))
    if BASE in have:
        lines.extend(base_section(summary, have, cells, runs, meta))
    ready = []
    for s in have:
        v = [r["ready_ms"] for r in runs if r["server"] == s and r.get("ready_ms") is not None]
        if v:
            ready.append(f"{s} {statistics.median(v):.1f} ms")
    if ready:
        lines.append("Start to ready line (median, incl. taskset exec): " + ", ".join(ready) + ".")
        lines.append("")
    lines.append("### Details (medians)")
    lines.append("")
    lines.append("| cell | server | CPU µs/msg | ×floor | msgs/s | MB/s | conn/s | rate ×floor | "
                 "p50 µs | p99 µs | p99.9 µs | p50 ×floor | p99 ×floor | RSS B/conn | client CPU | ok runs |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in cells:
        cn = cell_name(c)
        fl = summary.get((reference(Cell(*c).kind), cn)) or {}
        rk = rate_key(c[0])
        for s in have:
            m = summary.get((s, cn))
            if not m:
                continue
            lines.append("| " + " | ".join([
                cn, label(s, Cell(*c).kind), fmt(m["cpu_us_per_msg"]), fmt_ratio(ratio(m["cpu_us_per_msg"], fl.get("cpu_us_per_msg"))),
                fmt(m["msgs_per_s"], 0), fmt(m["mb_per_s"], 1), fmt(m["conns_per_s"], 0),
                fmt_ratio(ratio(m[rk], fl.get(rk))),
                fmt(m["p50_us"], 1), fmt(m["p99_us"], 1), fmt(m["p999_us"], 1),
                fmt_ratio(ratio(m["p50_us"], fl.get("p50_us"))), fmt_ratio(ratio(m["p99_us"], fl.get("p99_us"))),
                fmt(m["rss_per_conn"], 0),
                "–" if m["client_cpu_pct"] is None else f"{m['client_cpu_pct']:.0f}%",
                f"{m['repeats_ok']}/{m['repeats']}"]) + " |")
    errs = [(s, cn, e) for (s, cn), m in summary.items() for e in m["errors"]]
    if errs:
        lines.append("")
        lines.append("### Failed runs")
        lines.append("")
        for s, cn, e in errs:
            lines.append(f"- {s} {cn}: {e}")
    return "\n".join(lines) + "\n"


def machine_meta(command, repeat, duration, warmup, dma_status, base=None):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip() or "(no commit)"
    except OSError:
        git = "(unknown)"
    meta = {
        "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "dma_latency": dma_status, "git": git, "repeat": repeat, "duration": duration,
        "warmup": warmup, "command": command, "server_cpus": CPUS["server"], "client_cpus": CPUS["client"],
    }
    if base is not None:
        meta["base"] = base
    return meta


def write(runs, servers, cells, meta, write_results_md, spec=None, results_dir=None):
    """Writes the results files (to `results_dir`, bench/results by default) and prints the
    table; the exit code: 0 when every run was clean."""
    results_dir = results_dir or os.path.join(BENCH, "results")
    summary = {}
    for name in servers:
        for cell in cells:
            rs = [r for r in runs if r["server"] == name and r["cell"] == cell_name(cell)]
            if rs:
                summary[(name, cell_name(cell))] = medians(rs)
    md = markdown(summary, servers, cells, meta, runs, spec)
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "latest.json"), "w") as f:
        json.dump({"meta": meta, "servers": servers, "cells": [cell_name(c) for c in cells],
                   "medians": [{"server": s, "cell": c, **m} for (s, c), m in summary.items()],
                   "runs": runs}, f, indent=1)
    with open(os.path.join(results_dir, "latest.md"), "w") as f:
        f.write(md)
    with open(os.path.join(results_dir, "latest.svg"), "w") as f:
        f.write(chart.ratio_svg(summary, servers, cells, f"echo-svc and peers ×floor ({meta['date']}, git {meta['git']})"))
    if write_results_md:
        with open(os.path.join(BENCH, "RESULTS.md"), "w") as f:
            f.write("# Benchmark results\n\nWritten by `bench/run` (see bench/README.md); "
                    "raw figures in bench/results/latest.json when run locally.\n\n" + md)
    print(md)
    return 0 if runs and all(r.get("ok") for r in runs) else 1


def rerender(path, write_results_md, spec=None, results_dir=None):
    with open(path) as f:
        data = json.load(f)
    write(data["runs"], data["servers"], parse_cells(data["cells"]), data["meta"], write_results_md, spec, results_dir)
    return 0
