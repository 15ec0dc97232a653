"""A library table as one self-contained static HTML page: a sortable table of every
circuit, a Pareto plot of an error metric against the area proxy (the front
highlighted), and an error heatmap per circuit. Everything is inline (SVG, PNG data
URIs, a few lines of script): the page works offline and needs no server.

Heatmaps come from re-simulating each circuit's `source` (circuits of up to
`HEATMAP_MAX_BITS` input bits whose file is still there and unchanged); each shows
``lut - a*b`` max-pooled to at most 64 x 64 cells, blue below zero, red above.
"""

from __future__ import annotations

import base64
import html
import os
import struct
import warnings
import zlib

import numpy as np

from .._errors import AppMultError
from ..io._files import atomic_output
from .table import KINDS

__all__ = ["pareto_front", "write_report", "render_report", "HEATMAP_MAX_BITS"]

HEATMAP_MAX_BITS = 20
_SHOWN = ("name", "a_bits", "b_bits", "signed", "nodes", "depth", "area_proxy", "er", "med", "nmed", "mred", "wce",
          "mse", "bias", "htp_mae", "error")


def pareto_front(cost: list[float], error: list[float]) -> list[int]:
    """Indices of the points no other point dominates (no larger cost and error, one
    strictly smaller), by increasing cost."""
    order = sorted(range(len(cost)), key=lambda i: (cost[i], error[i]))
    front, best = [], float("inf")
    for i in order:
        if error[i] < best:
            front.append(i)
            best = error[i]
    return front


def _png(rgb: np.ndarray) -> str:
    """A PNG data URI of an (h, w, 3) uint8 image."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _heatmap(row: dict) -> str | None:
    """The error heatmap of a row's circuit, or None when it cannot be made."""
    import hashlib

    from ..sim import simulator

    path = row.get("source")
    if row.get("error") or not path or not os.path.exists(path) or \
            (row.get("a_bits") or 99) + (row.get("b_bits") or 99) > HEATMAP_MAX_BITS:
        return None
    with open(path, "rb") as fh:
        if hashlib.sha256(fh.read()).hexdigest() != row.get("sha256"):
            return None  # the file changed since the table was made
    with warnings.catch_warnings():  # the table's `warnings` column has them already
        warnings.simplefilter("ignore")
        error = simulator(path, signed=bool(row.get("signed"))).lut().error().astype(np.float64)
    for axis in (0, 1):
        n = error.shape[axis]
        if n > 64:
            error = np.moveaxis(error, axis, 0).reshape(64, n // 64, -1)
            error = np.take_along_axis(error, np.abs(error).argmax(axis=1)[:, None], axis=1)[:, 0]
            error = np.moveaxis(error, 0, axis)
    peak = float(np.abs(error).max()) or 1.0
    t = np.clip(error / peak, -1, 1)[..., None]
    white = np.array([255.0, 255.0, 255.0])
    rgb = np.where(t > 0, white + t * (np.array([200.0, 30.0, 30.0]) - white),
                   white - t * (np.array([30.0, 60.0, 200.0]) - white))
    scale = max(1, 256 // max(error.shape))
    rgb = np.repeat(np.repeat(rgb.astype(np.uint8), scale, axis=0), scale, axis=1)
    return _png(rgb)


def _svg_pareto(rows: list[dict], metric: str) -> str:
    points = [(i, r["area_proxy"], r[metric]) for i, r in enumerate(rows)
              if r.get("area_proxy") is not None and r.get(metric) is not None]
    if not points:
        return "<p>No circuit has both an area proxy and this metric.</p>"
    front = {points[k][0] for k in pareto_front([p[1] for p in points], [p[2] for p in points])}
    w, h, pad = 640, 400, 56
    xs, ys = [p[1] for p in points], [p[2] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = lambda x: pad + (x - x0) / ((x1 - x0) or 1) * (w - 2 * pad)  # noqa: E731
    sy = lambda y: h - pad - (y - y0) / ((y1 - y0) or 1) * (h - 2 * pad)  # noqa: E731
    parts = [f'<svg id="pareto" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>',
             f'<text x="{w / 2}" y="{h - 14}" text-anchor="middle">area proxy (NAND2 equivalents)</text>',
             f'<text x="16" y="{h / 2}" transform="rotate(-90 16 {h / 2})" text-anchor="middle">'
             f'{html.escape(metric)}</text>',
             f'<text x="{pad}" y="{h - pad + 16}" font-size="11">{x0:.4g}</text>',
             f'<text x="{w - pad}" y="{h - pad + 16}" font-size="11" text-anchor="end">{x1:.4g}</text>',
             f'<text x="{pad - 4}" y="{h - pad}" font-size="11" text-anchor="end">{y0:.4g}</text>',
             f'<text x="{pad - 4}" y="{pad + 4}" font-size="11" text-anchor="end">{y1:.4g}</text>']
    line = sorted((p for p in points if p[0] in front), key=lambda p: p[1])
    parts.append('<polyline fill="none" stroke="#c81e1e" stroke-width="1.5" points="'
                 + " ".join(f"{sx(p[1]):.1f},{sy(p[2]):.1f}" for p in line) + '"/>')
    for i, x, y in points:
        on = i in front
        parts.append(f'<circle class="{"front" if on else "point"}" cx="{sx(x):.1f}" cy="{sy(y):.1f}" '
                     f'r="{5 if on else 3.5}" fill="{"#c81e1e" if on else "#5078c8"}">'
                     f'<title>{html.escape(str(rows[i]["name"]))}: area {x:.4g}, {metric} {y:.4g}</title></circle>')
    parts.append("</svg>")
    return "\n".join(parts)


_SCRIPT = """
document.querySelectorAll('#circuits th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = document.querySelector('#circuits tbody');
    var rows = Array.prototype.slice.call(body.rows);
    var up = th.getAttribute('data-order') !== 'up';
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute('data-value'), y = b.cells[col].getAttribute('data-value');
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return up ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    document.querySelectorAll('#circuits th').forEach(function (h) { h.removeAttribute('data-order'); });
    th.setAttribute('data-order', up ? 'up' : 'down');
  });
});
"""
_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #eee; cursor: pointer; position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
tr.front td:first-child { font-weight: bold; color: #c81e1e; }
.maps { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; font-size: 12px; text-align: center; }
figure img { image-rendering: pixelated; width: 160px; height: 160px; border: 1px solid #ccc; }
"""


def _cell(value) -> tuple[str, str]:
    if value is None:
        return "", ""
    if isinstance(value, float):
        return f"{value:.6g}", repr(value)
    return html.escape(str(value)), html.escape(str(value))


def render_report(rows: list[dict], metric: str = "med", title: str = "Multiplier library") -> str:
    """The HTML page of `rows` (see the module docstring)."""
    if metric not in KINDS or KINDS[metric] not in ("float", "bigint", "int"):
        raise AppMultError(f"no numeric column {metric!r} to plot (try med, mred, er, wce, nmed, mse)")
    shown = list(_SHOWN)
    if metric not in shown:
        shown.insert(shown.index("area_proxy") + 1, metric)
    points = [i for i, r in enumerate(rows) if r.get("area_proxy") is not None and r.get(metric) is not None]
    front = {points[k] for k in pareto_front([rows[i]["area_proxy"] for i in points],
                                             [rows[i][metric] for i in points])}
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f'<td data-value="{v}">{t}</td>' for t, v in map(_cell, (row.get(c) for c in shown)))
        body.append(f'<tr class="row{" front" if i in front else ""}">{cells}</tr>')
    maps = []
    for row in rows:
        uri = _heatmap(row)
        if uri is not None:
            maps.append(f'<figure><img alt="error heatmap of {html.escape(row["name"])}" src="{uri}">'
                        f'<figcaption>{html.escape(row["name"])}</figcaption></figure>')
    failed = sum(bool(r.get("error")) for r in rows)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(rows)} circuits, {failed} failed; {len(front)} on the Pareto front of {html.escape(metric)} "
        "against the area proxy (bold red in the table). Click a column to sort.</p>",
        "<h2>Pareto front</h2>", _svg_pareto(rows, metric),
        "<h2>Circuits</h2>", '<table id="circuits"><thead><tr>'
        + "".join(f"<th>{html.escape(c)}</th>" for c in shown) + "</tr></thead><tbody>",
        *body, "</tbody></table>",
        "<h2>Error heatmaps</h2>",
        "<p>lut − a·b over the operand plane (a down, b across), max-pooled to at most 64 × 64, "
        "blue below zero, red above, each scaled to its own largest error.</p>",
        f'<div class="maps">{"".join(maps) or "<p>No circuit file to simulate.</p>"}</div>',
        f"<script>{_SCRIPT}</script>", "</body></html>", ""])


def write_report(rows: list[dict], path: str | os.PathLike, metric: str = "med", title: str = "Multiplier library") \
        -> None:
    """Write `render_report` to `path` atomically."""
    text = render_report(rows, metric, title)
    with atomic_output(path, "w") as fh:
        fh.write(text)
