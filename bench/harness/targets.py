"""The targets echo-svc is held to, from bench/targets.json, checked against a run."""
import json
import os

from . import BENCH, HarnessError
from .cells import MODES, Cell, cell_name
from .stats import METRICS, paired_ratio, ratio

PATH = os.path.join(BENCH, "targets.json")


def load(path=PATH):
    """Reads and checks the file, so that a typo fails the run instead of a target silently
    never applying."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise HarnessError(f"cannot read {path}: {err}") from None
    if not isinstance(data.get("servers"), list) or not isinstance(data.get("targets"), list):
        raise HarnessError(f"{path}: expected lists 'servers' and 'targets'")
    for t in data["targets"]:
        bounds = [k for k in ("min", "max") if k in t]
        if (t.get("mode") not in MODES or t.get("metric") not in METRICS or not t.get("label")
                or len(bounds) != 1 or not isinstance(t[bounds[0]], (int, float))
                or not isinstance(t.get("min_size", 0), int)):
            raise HarnessError(f"{path}: bad target {t}: needs mode ({'/'.join(MODES)}), metric "
                               f"({'/'.join(METRICS)}), label and exactly one numeric min or max")
    return data


def label(t):
    bound = t["min"] if "min" in t else t["max"]
    sign = "≥" if "min" in t else "≤"
    return f"{t['label']} {sign}{bound} {t['unit']}" if "unit" in t else f"{t['label']} {sign}{bound}×"


def met(t, value):
    return value >= t["min"] if "min" in t else value <= t["max"]


def check(spec, summary, cells, runs, server, ref="floor"):
    """One row per (cell, target) that applies and has a figure: the ratio of the medians
    and the median of paired ratios, each with whether it meets the target; for a target
    with a unit both are the server's own median."""
    rows = []
    for c in cells:
        cn = cell_name(c)
        m, fl = summary.get((server, cn)), summary.get((ref, cn))
        if not m or not fl or m["repeats_ok"] == 0:
            continue
        mode, _, size, kind = Cell(*c)
        if kind != "tcp":
            continue  # the targets are TCP's: against floor.c, in its cells
        for t in spec["targets"]:
            if t["mode"] != mode or size < t.get("min_size", 0):
                continue
            key = t["metric"]
            if "unit" in t:
                value = paired = m[key]
            else:
                value, paired = ratio(m[key], fl[key]), paired_ratio(runs, server, cn, key, ref)
            if value is None:
                continue
            rows.append({"cell": cn, "target": t, "label": label(t), "median": value,
                         "median_met": met(t, value), "paired": paired,
                         "paired_met": paired is not None and met(t, paired)})
    return rows
