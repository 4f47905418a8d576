"""atlas.png: training runs as paths through prediction space (the InPCA atlas), with atlas.csv
and atlas.json beside it (DESIGN section 5): written atomically, the same input giving the same
bytes."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dlcli.report.plots import _closes_figures, _distinct, _is_number, _pyplot, _save_csv, _save_json, _save_png

LEGEND_MAX = 12  # runs named in a legend; past that the legend hides the picture
GREY = "0.6"  # a run without a value for the hyperparameter coloured by
DECADES = 2.0  # a positive hyperparameter spanning this many decades (a learning rate) gets a log scale


def _check(coords: np.ndarray, eigenvalues: Sequence, trajectories: list[dict]) -> np.ndarray:
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise ValueError(f"coords must be (points, components >= 2), got shape {coords.shape}")
    if len(eigenvalues) < min(coords.shape[1], 3):
        raise ValueError(f"{len(eigenvalues)} eigenvalues for {min(coords.shape[1], 3)} drawn components")
    if not trajectories:
        raise ValueError("no trajectories to draw")
    for t in trajectories:
        rows = list(t["rows"])
        if not rows or len(rows) != len(t["epochs"]):
            raise ValueError(f"trajectory {t['label']!r}: {len(rows)} rows for {len(t['epochs'])} epochs")
        if min(rows) < 0 or max(rows) >= len(coords):
            raise ValueError(f"trajectory {t['label']!r}: rows must index the {len(coords)} points")
    return coords


def _numeric(values: list) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(_is_number(v) for v in present)


def _norm(values: list) -> Any:
    from matplotlib.colors import LogNorm, Normalize

    present = np.array([v for v in values if v is not None], dtype=np.float64)
    lo, hi = float(present.min()), float(present.max())
    if lo > 0 and np.log10(hi / lo) >= DECADES:
        return LogNorm(lo, hi)
    return Normalize(lo, hi)


def _colours(trajectories: list[dict], colour_by: str) -> tuple[list, dict, Any]:
    """(one colour per trajectory, legend name -> colour (empty for none), a colour mapping for
    a colorbar or None)."""
    plt = _pyplot()
    values = [t["label"] for t in trajectories] if colour_by == "run" else [t.get("value") for t in trajectories]
    if colour_by != "run" and _numeric(values):
        mapping = plt.cm.ScalarMappable(norm=_norm(values), cmap="viridis")
        return [GREY if v is None else mapping.to_rgba(v) for v in values], {}, mapping
    names = [str(v) for v in values]
    order = _distinct(names)
    palette = plt.get_cmap("tab10" if len(order) <= 10 else "tab20")
    colour = {name: palette(i % palette.N) for i, name in enumerate(order)}
    return [colour[n] for n in names], (colour if len(order) <= LEGEND_MAX else {}), None


def _axis(index: int, eigenvalues: Sequence) -> str:
    return f"InPCA {index + 1} ({'-' if eigenvalues[index] < 0 else '+'})"


def _panel(ax: Any, coords: np.ndarray, pair: tuple[int, int], trajectories: list[dict], colours: list,
           eigenvalues: Sequence) -> None:
    """One line per trajectory through its epochs, a circle at the first and a square at the last."""
    a, b = pair
    for t, colour in zip(trajectories, colours):
        path = coords[list(t["rows"])]
        ax.plot(path[:, a], path[:, b], "-", color=colour, lw=1.2, alpha=0.85)
        ax.plot(path[0, a], path[0, b], "o", color=colour, ms=5)
        ax.plot(path[-1, a], path[-1, b], "s", color=colour, ms=6, mec="k", mew=0.6)
    ax.set(xlabel=_axis(a, eigenvalues), ylabel=_axis(b, eigenvalues))


def atlas_caption(stress: Sequence[float]) -> str:
    """What to look at, then "top 3 components explain 94.1% of the stress" (top 2 or 1 with fewer)."""
    k = min(3, len(stress))
    return ("One line per run through prediction space (circle: first epoch, square: last); "
            "runs on one path learn alike\n"
            f"top {k} components explain {100 * stress[k - 1]:.1f}% of the stress")


def _keys(fig: Any, axes: Sequence, legend: dict, mapping: Any, colour_by: str) -> None:
    from matplotlib.lines import Line2D

    if mapping is not None:
        fig.colorbar(mapping, ax=list(axes), label=colour_by, shrink=0.9)
    elif legend:
        handles = [Line2D([], [], color=c, lw=2, label=name) for name, c in legend.items()]
        axes[-1].legend(handles=handles, fontsize="small", title=colour_by, loc="center left",
                        bbox_to_anchor=(1.02, 0.5))


def _table(coords: np.ndarray, trajectories: list[dict]) -> list[list]:
    """label, epoch, value, c1, c2, c3 (c3 empty with two components) per trajectory epoch."""
    rows = []
    for t in trajectories:
        for row, epoch in zip(t["rows"], t["epochs"]):
            c = coords[row].tolist() + [None, None]
            rows.append([t["label"], epoch, t.get("value"), c[0], c[1], c[2]])
    return rows


@_closes_figures
def draw_atlas(coords: np.ndarray, eigenvalues: Sequence[float], stress: list, trajectories: list[dict],
               folder: Path, colour_by: str = "run") -> list[Path]:
    """atlas.png (InPCA components 1-2 and 1-3, or 1-2 alone with two: one line per run through
    its epochs, coloured by run or by the hyperparameter `colour_by`, each run's "value"),
    atlas.csv (label, epoch, value, c1, c2, c3) and atlas.json (eigenvalues, signs, explained
    stress, labels). Each trajectory is {"label", "rows" (into coords, in epoch order),
    "epochs", "value"}; `stress[k-1]` is the stress the top k components explain."""
    coords, folder = _check(coords, eigenvalues, trajectories), Path(folder)
    pairs = [(0, 1), (0, 2)] if coords.shape[1] >= 3 else [(0, 1)]
    colours, legend, mapping = _colours(trajectories, colour_by)
    plt = _pyplot()
    # constrained layout, not tight_layout: it makes room for an outside legend and a colorbar
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs) + 1.6, 4.8), squeeze=False, layout="constrained")
    for ax, pair in zip(axes[0], pairs):
        _panel(ax, coords, pair, trajectories, colours, eigenvalues)
    fig.suptitle(atlas_caption(stress), fontsize="small")
    _keys(fig, list(axes[0]), legend, mapping, colour_by)
    drawn = list(eigenvalues[:min(coords.shape[1], 3)])
    data = {"eigenvalues": [float(v) for v in drawn], "signs": [-1 if v < 0 else 1 for v in drawn],
            "explained_stress": [float(s) for s in stress], "labels": [t["label"] for t in trajectories],
            "colour_by": colour_by}
    header = ["label", "epoch", "value", "c1", "c2", "c3"]
    return [_save_png(fig, folder / "atlas.png"), _save_csv(folder / "atlas.csv", header, _table(coords, trajectories)),
            _save_json(folder / "atlas.json", data)]
