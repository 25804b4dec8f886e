"""Cells: MODE:CONNECTIONS:SIZE, the unit of the benchmark matrix."""
import re

MODES = ("pingpong", "stream", "churn", "idle")

FULL_CELLS = (
    [f"pingpong:{c}:{s}" for c in (1, 10, 100, 1000) for s in (64, 1024, 16384, 65536)]
    + ["stream:1:65536", "stream:100:65536", "churn:10:64", "idle:10000:64"]
)
QUICK_CELLS = [
    "pingpong:1:64", "pingpong:100:64", "pingpong:100:16384", "pingpong:10:65536",
    "stream:100:65536", "churn:10:64", "idle:10000:64",
]


def parse_size(text):
    m = re.fullmatch(r"(\d+)([kKmM]?)(i?[bB])?", text)
    if not m:
        raise ValueError(text)
    return int(m.group(1)) * {"": 1, "k": 1024, "K": 1024, "m": 1 << 20, "M": 1 << 20}[m.group(2)]


def parse_cell(text):
    parts = text.split(":")
    if len(parts) != 3 or parts[0] not in MODES:
        raise ValueError(f"cell {text!r}: expected MODE:CONNECTIONS:SIZE, e.g. pingpong:100:64")
    return parts[0], int(parts[1]), parse_size(parts[2])


def parse_cells(texts):
    return [parse_cell(c) for c in texts]


def cell_name(cell):
    mode, conns, size = cell
    s = f"{size // 1024}K" if size >= 1024 and size % 1024 == 0 else str(size)
    return f"{mode}:{conns}:{s}"


def rate_key(mode):
    """The figure that says how fast a server is in this mode (idle: how small)."""
    return {"pingpong": "msgs_per_s", "stream": "mb_per_s", "churn": "conns_per_s",
            "idle": "rss_per_conn"}[mode]
