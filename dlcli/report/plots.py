"""Figures for a run's plots/ folder: every PNG has its numbers beside it (CSV or JSON) and a
stable name, axes carry units and a one-line caption says what to look at (DESIGN section 5).

matplotlib is imported inside the functions (Agg backend, no display) so importing this module
stays cheap. Every file is written atomically, and the same input gives the same bytes.
"""
from __future__ import annotations

import csv
import functools
import io
import math
import re
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from dlcli.fsio import write_atomic, write_json

DPI = 100
PAD = 1  # blank pixels between tiles of an image mosaic
SPLITS = {"train.": "-", "val.": "--"}  # line style per split: train solid, val dashed
FRACTIONS = {"accuracy", "top3", "top5", "macro_f1", "high_quality"}  # 0..1 scale metrics
STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # never a display, even where one exists
    import matplotlib.pyplot as plt

    return plt


def _open_figures() -> set:
    pyplot = sys.modules.get("matplotlib.pyplot")
    return set(pyplot.get_fignums()) if pyplot else set()


def _closes_figures(draw):
    """A figure left open by a failing draw would stay in pyplot's registry for the whole
    process: close whatever the call opened when it raises."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        before = _open_figures()
        try:
            return draw(*args, **kwargs)
        except BaseException:
            for number in _open_figures() - before:
                sys.modules["matplotlib.pyplot"].close(number)
            raise
    return wrapper


def _stem(name: str) -> str:
    if not STEM.fullmatch(name):
        raise ValueError(f"figure name {name!r} is not a plain file stem (letters, digits, _ . -)")
    return name


def _save_png(fig: Any, path: Path) -> Path:
    """Render to bytes, then write atomically; no Software tag, so the bytes never vary."""
    plt = _pyplot()
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return path


def _cell(value: Any) -> str:
    """A missing value is an empty cell; a NaN stays "nan" (a diverged loss is news)."""
    if value is None:
        return ""
    return str(value.item() if isinstance(value, np.generic) else value)


def _save_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    write_atomic(path, buffer.getvalue())
    return path


def _save_json(path: Path, data: dict) -> Path:
    write_json(path, data)
    return path


# ---- training curves -------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def curve_columns(records: list[dict]) -> dict[str, list[str]]:
    """Quantity name -> its plotted columns (train first, then val), in order of first
    appearance; only numeric train./val. keys (timing keys and matrices are left out)."""
    groups: dict[str, list[str]] = {}
    for record in records:
        for key, value in record.items():
            prefix = next((p for p in SPLITS if key.startswith(p)), None)
            if prefix is None or not _is_number(value):
                continue
            columns = groups.setdefault(key[len(prefix):], [])
            if key not in columns:
                columns.append(key)
    for columns in groups.values():
        columns.sort(key=lambda c: not c.startswith("train."))
    return groups


def _epochs(records: list[dict]) -> list:
    return [record.get("epoch", i + 1) for i, record in enumerate(records)]


def _y_label(name: str) -> str:
    return f"{name} (fraction)" if name in FRACTIONS else name


def _grid_shape(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


@_closes_figures
def curves(records: list[dict], folder: Path) -> list[Path]:
    """curves.png (one axes per quantity, train solid and val dashed, against the epoch) and
    curves.csv (epoch and every plotted column) from metrics.jsonl records; [] when no record
    holds a train./val. number."""
    groups = curve_columns(records)
    if not groups:
        return []
    plt = _pyplot()
    rows, cols = _grid_shape(len(groups))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows + 0.6), squeeze=False)
    epochs = _epochs(records)
    for ax, (name, columns) in zip(axes.flat, groups.items()):
        for column in columns:
            values = [record.get(column, math.nan) for record in records]
            ax.plot(epochs, values, SPLITS[column[:column.index(".") + 1]], marker=".", label=column)
        ax.set(xlabel="epoch", ylabel=_y_label(name), title=name)
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    fig.suptitle("Per-epoch curves (train solid, val dashed): a val curve turning up while train falls is overfitting",
                 fontsize="small")
    fig.tight_layout()
    folder = Path(folder)
    header = ["epoch"] + [c for columns in groups.values() for c in columns]
    table = [[e] + [record.get(c) for c in header[1:]] for e, record in zip(epochs, records)]
    return [_save_png(fig, folder / "curves.png"), _save_csv(folder / "curves.csv", header, table)]


# ---- image mosaics ---------------------------------------------------------------------------

def _tiles(images: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, C, H, W) with C in 1, 3 -> (N, H, W) or (N, H, W, 3)."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim in (3, 4) and len(images) == 0:
        raise ValueError("no images to draw")
    if images.ndim == 4 and images.shape[1] == 1:
        return images[:, 0]
    if images.ndim == 4 and images.shape[1] == 3:
        return images.transpose(0, 2, 3, 1)
    if images.ndim == 3:
        return images
    raise ValueError(f"images must be (N, H, W) or (N, C, H, W) with C 1 or 3, got shape {images.shape}")


def _value_range(*arrays: np.ndarray) -> tuple[float, float]:
    finite = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays])
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def _scaled(tiles: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Min-max scaled to 0..1 over the whole figure (not per tile), non-finite pixels at 0."""
    span = hi - lo if hi > lo else 1.0
    return np.clip(np.nan_to_num((tiles - lo) / span, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def mosaic(rows: list[list[np.ndarray]]) -> np.ndarray:
    """One canvas from rows of equal-sized tiles, PAD blank (white) pixels between them."""
    h, w = rows[0][0].shape[:2]
    cols = max(len(row) for row in rows)
    extra = rows[0][0].shape[2:]
    canvas = np.ones((len(rows) * (h + PAD) - PAD, cols * (w + PAD) - PAD) + extra)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            canvas[r * (h + PAD):r * (h + PAD) + h, c * (w + PAD):c * (w + PAD) + w] = tile
    return canvas


def _distinct(labels: Sequence) -> list:
    """The distinct labels, numbers in numeric order before text, so a label keeps its row and
    colour from run to run."""
    order: list = []
    for label in labels:
        if label not in order:
            order.append(label)
    return sorted(order, key=lambda l: (0, l, "") if _is_number(l) else (1, 0, str(l)))


def _label_rows(tiles: np.ndarray, labels: Sequence) -> tuple[list, list[list[np.ndarray]]]:
    """One row per distinct label."""
    order = _distinct(labels)
    return order, [[t for t, l in zip(tiles, labels) if l == label] for label in order]


def _square_rows(tiles: np.ndarray) -> list[list[np.ndarray]]:
    cols = math.ceil(math.sqrt(len(tiles)))
    return [list(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]


def _show(canvas: np.ndarray, caption: str, row_names: Optional[Sequence[str]] = None,
          tile_height: int = 0, row_title: str = "label") -> Any:
    """A figure of one mosaic, sized to it, gray for one channel; row names on the y axis."""
    plt = _pyplot()
    height, width = canvas.shape[:2]
    scale = min(8.0 / width, 8.0 / height, 0.25)  # inches per image pixel: the long side at most 8 in
    fig, ax = plt.subplots(figsize=(max(width * scale, 3.0) + 0.8, max(height * scale, 1.5) + 0.7))
    ax.imshow(canvas, cmap="gray" if canvas.ndim == 2 else None, vmin=0.0, vmax=1.0,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([(i + 0.5) * (tile_height + PAD) - PAD for i in range(len(row_names or []))])
    ax.set_yticklabels([str(n) for n in row_names or []])
    if row_names:
        ax.set_ylabel(row_title)
    ax.set_xlabel("tiles; pixel values min-max scaled over the figure")
    fig.suptitle(caption, fontsize="small")
    fig.tight_layout()
    return fig


def _jsonable(labels: Optional[Sequence]) -> Optional[list]:
    return None if labels is None else np.asarray(labels).tolist()


@_closes_figures
def image_grid(images: np.ndarray, folder: Path, name: str = "samples", labels: Optional[Sequence] = None,
               caption: str = "Generated images: look for variety across tiles and sharp strokes") -> list[Path]:
    """<name>.png (a near-square mosaic, or one row per label when labels are given; gray for
    one channel; values min-max scaled over the figure) and <name>.json with the array's shape,
    min, max and the labels."""
    folder, name, tiles = Path(folder), _stem(name), _tiles(images)
    if labels is not None and len(labels) != len(tiles):
        raise ValueError(f"{len(labels)} labels for {len(tiles)} images")
    lo, hi = _value_range(tiles)
    scaled = _scaled(tiles, lo, hi)
    if labels is None:
        row_names, rows = None, _square_rows(scaled)
    else:
        row_names, rows = _label_rows(scaled, _jsonable(labels))
    fig = _show(mosaic(rows), caption, row_names, tiles.shape[1])
    stats = {"shape": list(np.shape(images)), "min": lo, "max": hi, "labels": _jsonable(labels)}
    return [_save_png(fig, folder / f"{name}.png"), _save_json(folder / f"{name}.json", stats)]


@_closes_figures
def reconstructions(originals: np.ndarray, reconstructed: np.ndarray, folder: Path,
                    per_row: int = 10) -> list[Path]:
    """reconstructions.png (chunks of `per_row` samples, each an original row over its
    reconstruction row, one shared min-max scale) and reconstructions.json with the per-sample
    mean squared error."""
    shape = np.shape(originals)
    if shape != np.shape(reconstructed):
        raise ValueError(f"originals {shape} and reconstructions {np.shape(reconstructed)} differ in shape")
    if per_row < 1:
        raise ValueError(f"per_row must be at least 1, got {per_row}")
    folder, a, b = Path(folder), _tiles(originals), _tiles(reconstructed)
    lo, hi = _value_range(a, b)
    a, b = _scaled(a, lo, hi), _scaled(b, lo, hi)
    rows = [list(t[i:i + per_row]) for i in range(0, len(a), per_row) for t in (a, b)]
    names = ["original", "reconstruction"] * (len(rows) // 2)
    caption = "Originals over their reconstructions: look for lost detail and blur"
    fig = _show(mosaic(rows), caption, names, a.shape[1], row_title="")
    error = np.asarray(originals, float) - np.asarray(reconstructed, float)
    mse = np.mean(error ** 2, axis=tuple(range(1, len(shape))))
    stats = {"shape": list(shape), "min": lo, "max": hi, "mse": mse.tolist(), "mean_mse": float(mse.mean())}
    return [_save_png(fig, folder / "reconstructions.png"), _save_json(folder / "reconstructions.json", stats)]


# ---- 2-D scatters ----------------------------------------------------------------------------

def _points(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{what} must be (N, 2), got shape {array.shape}")
    return array


@_closes_figures
def points(generated: np.ndarray, real: np.ndarray, folder: Path, name: str = "samples",
           modes: Optional[np.ndarray] = None) -> list[Path]:
    """<name>.png (generated points in colour over the real ones in grey, the mixture's modes
    as crosses) and <name>.csv with the generated points (x, y)."""
    folder, name = Path(folder), _stem(name)
    generated, real = _points(generated, "generated"), _points(real, "real")
    modes = None if modes is None else _points(modes, "modes")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.scatter(real[:, 0], real[:, 1], s=4, c="0.7", alpha=0.5, label=f"real ({len(real)})")
    ax.scatter(generated[:, 0], generated[:, 1], s=4, c="C0", label=f"generated ({len(generated)})")
    if modes is not None:
        ax.scatter(modes[:, 0], modes[:, 1], marker="x", s=40, c="k", label=f"modes ({len(modes)})")
    ax.set(xlabel="x (data units)", ylabel="y (data units)", aspect="equal")
    ax.legend(fontsize="small", loc="upper right")
    fig.suptitle("Generated (blue) over real (grey) points: a cross with no blue near it is a lost mode",
                 fontsize="small")
    fig.tight_layout()
    return [_save_png(fig, folder / f"{name}.png"), _save_csv(folder / f"{name}.csv", ["x", "y"], generated.tolist())]


@_closes_figures
def latent_scatter(z: np.ndarray, labels: Optional[Sequence], folder: Path, name: str = "latent") -> list[Path]:
    """<name>.png (2-D codes coloured by label, with a legend) and <name>.csv (z1, z2, label;
    the label empty when there are none)."""
    folder, name, z = Path(folder), _stem(name), _points(z, "z")
    if labels is not None and len(labels) != len(z):
        raise ValueError(f"{len(labels)} labels for {len(z)} codes")
    names = _jsonable(labels)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 5.5))
    if names is None:
        ax.scatter(z[:, 0], z[:, 1], s=5, c="C0")
    else:
        order = _distinct(names)
        colours = plt.get_cmap("tab10" if len(order) <= 10 else "tab20")
        for i, label in enumerate(order):
            where = np.array([n == label for n in names])
            ax.scatter(z[where, 0], z[where, 1], s=5, color=colours(i % colours.N), label=str(label))
        ax.legend(fontsize="small", markerscale=2, title="label", loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set(xlabel="z1 (latent units)", ylabel="z2 (latent units)")
    fig.suptitle("Latent codes by label: separated clusters mean the code keeps the class", fontsize="small")
    fig.tight_layout()
    table = [[a, b, "" if names is None else names[i]] for i, (a, b) in enumerate(z.tolist())]
    return [_save_png(fig, folder / f"{name}.png"), _save_csv(folder / f"{name}.csv", ["z1", "z2", "label"], table)]


# ---- attention maps ----------------------------------------------------------------------------

@_closes_figures
def attention_maps(maps: Sequence[dict], folder: Path, name: str = "attention") -> list[Path]:
    """<name>.png (one heatmap per sample: output tokens down, source tokens across, the weight
    each output position gave each source position) and <name>.json with the weights and tokens.
    Each map is {"weights": (T, S) array, "source": S tokens, "output": T tokens}."""
    folder, name = Path(folder), _stem(name)
    if not maps:
        raise ValueError("no attention maps to draw")
    plt = _pyplot()
    rows, cols = _grid_shape(len(maps), 2)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.8 * rows), squeeze=False)
    for ax, m in zip(axes.flat, maps):
        w = np.asarray(m["weights"], dtype=np.float64)
        if w.shape != (len(m["output"]), len(m["source"])):
            raise ValueError(f"weights {w.shape} for {len(m['output'])} output and {len(m['source'])} source tokens")
        ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(m["source"])), [str(t) for t in m["source"]], fontsize="x-small")
        ax.set_yticks(range(len(m["output"])), [str(t) for t in m["output"]], fontsize="x-small")
        ax.set(xlabel="source token", ylabel="output token")
    for ax in list(axes.flat)[len(maps):]:
        ax.axis("off")
    fig.suptitle("Attention over the source per output token: a clear path means the model found the alignment",
                 fontsize="small")
    fig.tight_layout()
    data = {"maps": [{"source": list(map(str, m["source"])), "output": list(map(str, m["output"])),
                      "weights": np.round(np.asarray(m["weights"], dtype=np.float64), 6).tolist()} for m in maps]}
    return [_save_png(fig, folder / f"{name}.png"), _save_json(folder / f"{name}.json", data)]
