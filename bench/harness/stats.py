"""Medians over repeats and ratios between servers."""
import statistics

METRICS = ("cpu_us_per_msg", "cpu0_us_per_msg", "ready_ms", "cpu0_other_pct", "client_cpu_pct", "msgs_per_s",
           "mb_per_s", "conns_per_s", "p50_us", "p99_us", "p999_us", "rss_per_conn")


def medians(runs):
    med = {}
    for key in METRICS:
        vals = [r[key] for r in runs if r.get("ok") and r.get(key) is not None]
        med[key] = statistics.median(vals) if vals else None
    med["repeats_ok"] = sum(1 for r in runs if r.get("ok"))
    med["repeats"] = len(runs)
    med["errors"] = [r.get("error") for r in runs if r.get("error")]
    return med


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def paired_ratio(runs, server, cn, key, ref="floor"):
    """Median over repeats of server/ref for the same repeat. Repeats are interleaved, so the
    two runs of one repeat are seconds apart and share the host's drift; the spread across
    repeats is mostly that drift, common to every server, and pairing cancels it."""
    by_repeat = {}
    for r in runs:
        if r["cell"] == cn and r.get("ok") and r.get(key) is not None and r["server"] in (server, ref):
            by_repeat.setdefault(r.get("repeat"), {})[r["server"]] = r[key]
    ratios = [v[server] / v[ref] for v in by_repeat.values()
              if server in v and v.get(ref)]
    return statistics.median(ratios) if ratios else None
