"""The ratio table as an SVG chart (bench/results/latest.svg): for each cell and server,
server CPU per message ×floor and rate ×floor as horizontal bars, with the floor's 1.0
marked. Standard library only; the SVG is written by hand."""
from xml.sax.saxutils import escape

from .cells import Cell, cell_name, rate_key
from .servers import FLOORS, reference
from .stats import ratio

COLOURS = ["#2e86c1", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#f1c40f"]
ROW = 16
LABEL_W = 230
PANEL_W = 300
GAP = 40


def _rows(summary, servers, cells):
    rows = []
    for c in cells:
        cn = cell_name(c)
        fl = summary.get((reference(Cell(*c).kind), cn)) or {}
        for s in servers:
            m = summary.get((s, cn))
            if s in FLOORS.values() or not m or not m.get("repeats_ok") or c[0] == "idle":
                continue
            rk = rate_key(c[0])
            rows.append((cn, s, ratio(m.get("cpu_us_per_msg"), fl.get("cpu_us_per_msg")), ratio(m.get(rk), fl.get(rk))))
    return rows


def ratio_svg(summary, servers, cells, title):
    rows = _rows(summary, servers, cells)
    colour = {s: COLOURS[i % len(COLOURS)] for i, s in enumerate(dict.fromkeys(r[1] for r in rows))}
    top = 70
    height = top + ROW * max(1, len(rows)) + 60
    width = LABEL_W + 2 * PANEL_W + GAP + 40
    out = [f'<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="20" font-size="14">{escape(title)}</text>']
    panels = (("cpu", "server CPU per message ×floor (lower is better)", 2),
              ("rate", "rate ×floor (higher is better)", 3))
    for p, (pid, heading, col) in enumerate(panels):
        x0 = LABEL_W + p * (PANEL_W + GAP)
        top_value = max([2.0] + [r[col] for r in rows if r[col] is not None])
        scale = PANEL_W / top_value
        out.append(f'<g id="{pid}">')
        out.append(f'<text x="{x0}" y="{top - 22}">{escape(heading)}</text>')
        for tick in range(0, int(top_value) + 1):
            x = x0 + tick * scale
            out.append(f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{top + ROW * len(rows)}" '
                       f'stroke="{"#444" if tick == 1 else "#ddd"}"/>')
            out.append(f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle">{tick}×</text>')
        for i, r in enumerate(rows):
            y = top + i * ROW
            v = r[col]
            if v is None:
                continue
            out.append(f'<rect x="{x0}" y="{y + 2}" width="{v * scale:.1f}" height="{ROW - 4}" '
                       f'fill="{colour[r[1]]}"><title>{escape(r[0])} {escape(r[1])}: {v:.2f}×</title></rect>')
            out.append(f'<text x="{x0 + v * scale + 3:.1f}" y="{y + ROW - 4}">{v:.2f}</text>')
        out.append('</g>')
    for i, r in enumerate(rows):
        out.append(f'<text x="{LABEL_W - 8}" y="{top + i * ROW + ROW - 4}" text-anchor="end">'
                   f'{escape(r[0])} · {escape(r[1])}</text>')
    y = top + ROW * len(rows) + 30
    for i, (s, c) in enumerate(colour.items()):
        out.append(f'<rect x="{10 + i * 150}" y="{y - 10}" width="12" height="12" fill="{c}"/>'
                   f'<text x="{26 + i * 150}" y="{y}">{escape(s)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
