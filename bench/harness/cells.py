"""Cells: [KIND-]MODE:CONNECTIONS:SIZE, the unit of the benchmark matrix. KIND is the
transport, tcp when left out (so TCP cells keep their names): tls-pingpong:100:1K,
unix-stream:1:64K, udp-pingpong:100:64."""
import collections
import re

MODES = ("pingpong", "stream", "churn", "idle")
# The modes each transport has: UDP has no connections to churn or hold.
KINDS = {"tcp": MODES, "tls": MODES, "unix": MODES, "udp": ("pingpong", "stream"), "mptcp": MODES}


class Cell(collections.namedtuple("Cell", "mode conns size kind")):
    """One cell; a plain (mode, conns, size) tuple compares equal to its TCP cell."""

    def __new__(cls, mode, conns, size, kind="tcp"):
        return super().__new__(cls, mode, conns, size, kind)

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
    kind, _, mode = parts[0].rpartition("-") if len(parts) == 3 else ("", "", "")
    kind = kind or "tcp"
    if len(parts) != 3 or kind not in KINDS or mode not in MODES:
        raise ValueError(f"cell {text!r}: expected [KIND-]MODE:CONNECTIONS:SIZE, e.g. pingpong:100:64 or "
                         f"tls-pingpong:100:1K (KIND: {', '.join(KINDS)})")
    if mode not in KINDS[kind]:
        raise ValueError(f"cell {text!r}: {kind} has modes {', '.join(KINDS[kind])}")
    return Cell(mode, int(parts[1]), parse_size(parts[2]), kind)


def parse_cells(texts):
    return [parse_cell(c) for c in texts]


def cell_name(cell):
    cell = Cell(*cell)
    s = f"{cell.size // 1024}K" if cell.size >= 1024 and cell.size % 1024 == 0 else str(cell.size)
    prefix = "" if cell.kind == "tcp" else f"{cell.kind}-"
    return f"{prefix}{cell.mode}:{cell.conns}:{s}"


def kinds(cells):
    """The transports the cells use, in first-use order."""
    return list(dict.fromkeys(Cell(*c).kind for c in cells))


def rate_key(mode):
    """The figure that says how fast a server is in this mode (idle: how small)."""
    return {"pingpong": "msgs_per_s", "stream": "mb_per_s", "churn": "conns_per_s",
            "idle": "rss_per_conn"}[mode]
