"""Pictures for choosing a gradient estimator: heatmaps and one-row profiles (matplotlib,
the optional ``plot`` extra). Everything is drawn in operand numeric order."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._errors import AppMultError
from .gradients import GradientTables, numeric_values, smoothed, ste
from .lut import to_numeric_order

__all__ = ["plot_gradients", "plot_pareto", "prepare_plots"]


def prepare_plots(folder) -> Path:
    """Check that plots can be drawn (matplotlib present) and the folder exists or can be
    created, before any work is written; the folder."""
    _pyplot()
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AppMultError(f"cannot create the plot folder: {exc.strerror}", str(folder)) from None
    if not os.access(folder, os.W_OK):
        raise AppMultError("cannot write into the plot folder", str(folder))
    return folder


def _save(fig, path: Path) -> None:
    """Save a figure atomically (a temporary file renamed over `path`)."""
    from .io._files import atomic_output

    with atomic_output(path) as fh:
        fig.savefig(fh, dpi=90, format="png")


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AppMultError("plots need matplotlib: pip install 'appmult-char[plot]'") from None
    return plt


def plot_gradients(tables: GradientTables, folder, stem: str) -> list[Path]:
    """Write ``STEM_heatmaps.png`` (LUT error, each gradient beside STE) and
    ``STEM_profile.png`` (product, smoothed product and gradients along the row and the
    column whose error varies most); return their paths."""
    plt = _pyplot()
    lut = tables.lut
    folder = prepare_plots(folder)
    a_vals, b_vals = numeric_values(lut.a_bits, lut.signed), numeric_values(lut.b_bits, lut.signed)
    extent = (b_vals[0] - 0.5, b_vals[-1] + 0.5, a_vals[-1] + 0.5, a_vals[0] - 0.5)

    def numeric(t):
        return to_numeric_order(t, lut.a_bits, lut.b_bits, lut.signed)

    straight = ste(lut)
    panels = [
        ("LUT error (approx - exact)", numeric(lut.error()), "RdBu_r"),
        (f"grad_a ({_label(tables)})", numeric(tables.grad_a), "viridis"),
        ("grad_a, STE (= b)", numeric(straight.grad_a), "viridis"),
        ("LUT (approx product)", numeric(lut.table), "magma"),
        (f"grad_b ({_label(tables)})", numeric(tables.grad_b), "viridis"),
        ("grad_b, STE (= a)", numeric(straight.grad_b), "viridis"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(15, 9.5), constrained_layout=True)
    for ax, (title, data, cmap) in zip(axes.ravel(), panels):
        if cmap == "RdBu_r":
            lim = max(1, np.abs(data).max())
            image = ax.imshow(data, cmap=cmap, vmin=-lim, vmax=lim, extent=extent, aspect="auto")
        else:
            image = ax.imshow(data, cmap=cmap, extent=extent, aspect="auto")
        ax.set(title=title, xlabel="b", ylabel="a")
        fig.colorbar(image, ax=ax, shrink=0.8)
    for i, j in ((1, 2), (4, 5)):  # each gradient shares its colour scale with its STE neighbour
        lo = min(panels[i][1].min(), panels[j][1].min())
        hi = max(panels[i][1].max(), panels[j][1].max())
        for k in (i, j):
            axes.ravel()[k].images[0].set_clim(lo, hi)
    fig.suptitle(f"{lut.name or stem}: {lut.a_bits}x{lut.b_bits} {'signed' if lut.signed else 'unsigned'}")
    heatmaps = folder / f"{stem}_heatmaps.png"
    _save(fig, heatmaps)
    plt.close(fig)

    f = numeric(lut.table).astype(np.float64)
    ga, gb = numeric(tables.grad_a), numeric(tables.grad_b)
    w = tables.half_window or 0
    err = numeric(lut.error()).astype(np.float64)
    row, col = int(np.argmax(err.std(axis=1))), int(np.argmax(err.std(axis=0)))  # the liveliest row/column
    fig, axes = plt.subplots(1, 2, figsize=(14, 5), constrained_layout=True)
    for ax, x, prod, smooth, grad, exact, label, fixed in (
        (axes[0], b_vals, f[row], smoothed(lut, w, 1)[row] if w else None, gb[row], a_vals[row], "b", f"a = {a_vals[row]}"),
        (axes[1], a_vals, f[:, col], smoothed(lut, w, 0)[:, col] if w else None, ga[:, col], b_vals[col], "a",
         f"b = {b_vals[col]}"),
    ):
        ax.plot(x, prod, lw=0.8, label="product (LUT)")
        if smooth is not None:
            ax.plot(x, smooth, lw=1.2, label=f"smoothed (W={w})")
        ax.set(xlabel=label, ylabel="product", title=f"{fixed}")
        twin = ax.twinx()
        twin.plot(x, grad, color="C3", lw=1.0, label=f"d/d{label} ({_label(tables)})")
        twin.axhline(exact, color="C3", ls=":", lw=1.0, label=f"STE = {exact}")
        twin.set_ylabel("gradient")
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    profile = folder / f"{stem}_profile.png"
    _save(fig, profile)
    plt.close(fig)
    return [heatmaps, profile]


def _label(tables: GradientTables) -> str:
    if tables.method == "window":
        return f"window W={tables.half_window}, {tables.boundary}"
    if tables.method == "lut1d":
        return f"LUT-1D {tables.boundary}" + (f", W={tables.half_window}" if tables.half_window else "")
    return tables.method


def plot_pareto(plans: list, chosen, path) -> Path:
    """Estimated loss change (summed costs) against energy ratio of the plans of a budget
    sweep, the chosen plan marked; saved atomically to `path`."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.plot([p.energy_ratio for p in plans], [p.meta["cost"] for p in plans], marker="o", ms=4,
            label="program at each budget")
    ax.scatter([chosen.energy_ratio], [chosen.meta["cost"]], color="C3", zorder=3, s=50,
               label=f"chosen (budget {chosen.budget:g})")
    ax.set(xlabel="energy ratio (of the exact multiplier)", ylabel=f"estimated loss change ({chosen.objective})",
           title="multiplier selection: Pareto front")
    ax.set_yscale("symlog", linthresh=1e-5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    _save(fig, path)
    plt.close(fig)
    return path
