"""regions.png for a run's plots/ folder: a network's linear regions on a plane of its input space,
one colour per affine piece, with the decision boundary and the data on it, and regions.json (the
count, density, box and every polygon) beside it (DESIGN section 5). Atomic writes, Agg backend."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from dlcli.analysis.regions import Plane, Regions, decision_boundary, label_list
from dlcli.fsio import write_atomic
from dlcli.report.plots import _closes_figures, _pyplot, _save_png

GOLDEN = 0.6180339887498949  # hue step: neighbouring indices get far-apart hues on the cyclic map
CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # where a three-sample plane puts its samples


def _colours(plt: Any, count: int) -> np.ndarray:
    """A distinct pastel per region from the cyclic hsv map, lightened so points and lines stand out."""
    hues = (np.arange(count) * GOLDEN) % 1.0
    rgba = plt.get_cmap("hsv")(hues)
    rgba[:, :3] = 0.55 * rgba[:, :3] + 0.45
    return rgba


def _names(labels: Any) -> Optional[list]:
    return None if labels is None else label_list(labels)


def _ordered(names: list) -> list:
    """The distinct labels, sorted where they compare (0, 1, 2 ...), else in order of appearance."""
    try:
        return sorted(set(names))
    except TypeError:
        return list(dict.fromkeys(names))


def _class_name(label: Any, classes: Optional[Sequence]) -> str:
    if classes is not None and isinstance(label, int) and 0 <= label < len(classes):
        return str(classes[label])
    return str(label)


def _scatter(ax: Any, plt: Any, uv: np.ndarray, names: Optional[list], classes: Optional[Sequence],
             size: float) -> None:
    """Points coloured by label (one legend entry per label), or plain black."""
    if names is None:
        ax.scatter(uv[:, 0], uv[:, 1], s=size, c="k", edgecolors="w", linewidths=0.4, zorder=3)
        return
    palette = plt.get_cmap("tab10" if len(set(names)) <= 10 else "tab20")
    for i, label in enumerate(_ordered(names)):
        where = np.array([n == label for n in names])
        ax.scatter(uv[where, 0], uv[where, 1], s=size, color=palette(i % palette.N), edgecolors="k",
                   linewidths=0.4, zorder=3, label=_class_name(label, classes))
    ax.legend(fontsize="small", title="label", loc="upper right")


def _draw_points(ax: Any, plt: Any, plane: Plane, points: Any, labels: Any, classes: Optional[Sequence]) -> None:
    """The data on the plane: a three-sample plane shows its three samples (named), any other the
    points projected onto (u, v)."""
    names = _names(labels)
    if plane.samples is not None:
        picked = None if names is None else [names[i] for i in plane.samples]
        _scatter(ax, plt, CORNERS, picked, classes, 60)
        for (u, v), i in zip(CORNERS, plane.samples):
            ax.annotate(f"x[{i}]", (u, v), xytext=(5, 5), textcoords="offset points", fontsize="small")
    elif points is not None:
        if names is not None and len(names) != len(points):
            raise ValueError(f"{len(names)} labels for {len(points)} points")
        _scatter(ax, plt, plane.project(points), names, classes, 10)


def regions_caption(result: Regions, boundary: bool) -> str:
    """"417 linear regions (12.3 per unit area); each colour is one affine piece; black: the decision boundary"."""
    line = "; black: the decision boundary" if boundary else ""
    return (f"{result.count} linear regions ({result.density:.3g} per unit area); each colour is one affine "
            f"piece{line}")


def _numbers(result: Regions, plane: Plane) -> dict:
    return {"count": result.count, "density": result.density, "area": result.area, "box": list(result.box),
            "axes": list(plane.axes), "samples": None if plane.samples is None else list(plane.samples),
            "seconds": round(result.seconds, 4),
            "polygons": [[[float(f"{u:.10g}"), float(f"{v:.10g}")] for u, v in p] for p in result.polygons]}


@_closes_figures
def draw_regions(result: Regions, plane: Plane, folder: Path, points: Any = None, labels: Any = None,
                 classes: Optional[Sequence] = None, title: str = "", boundary: bool = True) -> list[Path]:
    """regions.png (every region of `result` filled in its own colour, thin edges, the decision
    boundary in black -- where the top two outputs tie, or one output crosses 0; `boundary=False`
    for a regressor -- the data on the plane coloured by label) and regions.json (count, density,
    box, area and each polygon's vertices) in `folder`."""
    from matplotlib.collections import LineCollection, PolyCollection

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 6.0))
    edge = min(0.3, 8 / max(result.count, 1) ** 0.5)  # thinner edges as regions crowd, so colours still show
    ax.add_collection(PolyCollection(result.polygons, facecolors=_colours(plt, result.count), edgecolors="0.3",
                                     linewidths=edge))
    segments = decision_boundary(result) if boundary else []
    if segments:
        ax.add_collection(LineCollection(segments, colors="k", linewidths=1.4, zorder=2))
    _draw_points(ax, plt, plane, points, labels, classes)
    u0, u1, v0, v1 = result.box
    ax.set(xlim=(u0, u1), ylim=(v0, v1), xlabel=plane.axes[0], ylabel=plane.axes[1])
    if title:
        ax.set_title(title, fontsize="medium")
    fig.text(0.5, 0.01, regions_caption(result, bool(segments)), ha="center", fontsize="small")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    folder = Path(folder)
    return [_save_png(fig, folder / "regions.png"), _save_compact_json(folder / "regions.json", _numbers(result, plane))]


def _save_compact_json(path: Path, data: dict) -> Path:
    """One line: thousands of polygons indented a number per line would take megabytes."""
    import json

    write_atomic(path, json.dumps(data, separators=(",", ":")))
    return path
