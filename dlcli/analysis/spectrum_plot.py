"""spectrum.png and landscape.png for a run's plots/ folder, each with its numbers beside it
(DESIGN section 5): written atomically, the same input giving the same bytes."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any, Optional

import numpy as np

from dlcli.fsio import write_atomic
from dlcli.report.plots import _closes_figures, _pyplot, _save_csv, _save_json, _save_png

SLOPPY, SPREAD = 3.0, 1.0  # decades from which a spectrum reads as sloppy, as spread out


def _verdict(decades: float) -> str:
    if decades >= SLOPPY:
        return "a sloppy spectrum: a few stiff directions over many soft ones"
    if decades >= SPREAD:
        return "a spread-out spectrum"
    return "a nearly even spectrum"


def spectrum_caption(result: dict) -> str:
    """"top 20 Hessian eigenvalues span 3.4 decades: a sloppy spectrum; 12% of the density is negative"."""
    n = len(result["top_eigenvalues"])
    share = 100 * result.get("negative_eigenvalues", 0.0)
    return (f"top {n} Hessian eigenvalues span {result['decades']:.1f} decades: {_verdict(result['decades'])}; "
            f"{share:.0f}% of the density is on negative eigenvalues")


def _ranked(ax: Any, values: list, style: str, label: str) -> None:
    """Positive values at their rank (a log axis shows no others); the count left out in the label."""
    values = np.asarray(values, dtype=np.float64)
    ranks = np.arange(1, len(values) + 1)
    keep = values > 0
    dropped = f", {int((~keep).sum())} <= 0 not shown" if (~keep).any() else ""
    ax.plot(ranks[keep], values[keep], style, label=f"{label} ({len(values)}{dropped})")


@_closes_figures
def draw_spectrum(result: dict, folder: Path) -> list[Path]:
    """spectrum.png (left: the top Hessian and Fisher eigenvalues by rank, log y; right: the SLQ
    eigenvalue density, log y) with a caption on how many decades the top eigenvalues span, and
    spectrum.json (the result dict of dlcli.analysis.spectrum.spectrum) beside it."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.0))
    _ranked(left, result["top_eigenvalues"], "o-", "Hessian")
    _ranked(left, result["fisher_top"], "s--", "empirical Fisher")
    positive = any(v > 0 for v in result["top_eigenvalues"] + result["fisher_top"])
    left.set(yscale="log" if positive else "linear", xlabel="rank", ylabel="eigenvalue (loss / parameter unit²)",
             title="top eigenvalues")
    left.legend(fontsize="small")
    grid, density = (np.asarray(result["density"][k], dtype=np.float64) for k in ("grid", "density"))
    right.plot(grid, density)
    right.axvline(0.0, color="0.6", lw=0.8)
    if density.size and density.max() > 0:  # 8 decades under the peak: the bulk and the outliers both show
        right.set(yscale="log", ylim=(density.max() * 1e-8, density.max() * 3))
    right.set(xlabel="eigenvalue (loss / parameter unit²)",
              ylabel="density (per eigenvalue unit)", title="Hessian eigenvalue density (SLQ)")
    fig.suptitle(spectrum_caption(result), fontsize="small")
    fig.tight_layout()
    folder = Path(folder)
    return [_save_png(fig, folder / "spectrum.png"), _save_json(folder / "spectrum.json", result)]


def _npz_bytes(arrays: dict[str, Any]) -> bytes:
    """An .npz np.load reads, with fixed zip timestamps (np.savez stamps the clock): same arrays, same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _draw_line(ax: Any, interp: dict) -> None:
    """Loss against a, the start (a = 0) and end (a = 1) marked where the span holds them."""
    a, loss = np.asarray(interp["a"], dtype=np.float64), np.asarray(interp["loss"], dtype=np.float64)
    ax.plot(a, loss, ".-", label="loss")
    for at, name, marker in ((0.0, "start", "o"), (1.0, "end", "*")):
        if a.min() <= at <= a.max():
            ax.plot([at], [np.interp(at, a, loss)], marker, ms=10, ls="none", label=f"{name} (a = {at:g})")
    ax.set(xlabel="a: weights (1 - a) start + a end", ylabel="loss", title="loss from start to end weights")
    if interp.get("accuracy") is not None:
        twin = ax.twinx()
        twin.plot(a, interp["accuracy"], "--", color="C2", label="accuracy")
        twin.set(ylabel="accuracy (fraction)", ylim=(-0.02, 1.02))
    ax.legend(fontsize="small")


def _draw_slice(ax: Any, fig: Any, slice2d: dict) -> None:
    """Filled contours of log10 loss over (alpha, beta), the trained weights marked at the centre."""
    loss = np.asarray(slice2d["loss"], dtype=np.float64)
    tiny = np.finfo(np.float64).tiny
    levels = ax.contourf(slice2d["alpha"], slice2d["beta"], np.log10(np.clip(loss, tiny, None)), levels=20,
                         cmap="viridis")
    ax.contour(slice2d["alpha"], slice2d["beta"], np.log10(np.clip(loss, tiny, None)), levels=20, colors="k",
               linewidths=0.3)
    ax.plot([0.0], [0.0], "r*", ms=12, label=f"trained (loss {slice2d['center_loss']:.3g})")
    fig.colorbar(levels, ax=ax, label="log10 loss")
    ax.set(xlabel="alpha (filter-normalised direction 1)", ylabel="beta (filter-normalised direction 2)",
           title="2-D slice through the trained weights", aspect="equal")
    ax.legend(fontsize="small", loc="upper right")


def _landscape_arrays(interp: dict, slice2d: Optional[dict]) -> dict[str, Any]:
    arrays: dict[str, Any] = {"a": interp["a"], "interpolation_loss": interp["loss"]}
    if interp.get("accuracy") is not None:
        arrays["interpolation_accuracy"] = interp["accuracy"]
    if slice2d is not None:
        arrays.update(alpha=slice2d["alpha"], beta=slice2d["beta"], loss=slice2d["loss"],
                      center_loss=slice2d["center_loss"])
    return {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}


@_closes_figures
def draw_landscape(interp: dict, slice2d: Optional[dict], folder: Path) -> list[Path]:
    """landscape.png (left: the loss along the line from the start to the end weights; right,
    when a slice is given: contours of log loss on the 2-D slice, the trained weights at the
    centre), landscape.npz (a, interpolation_loss[, interpolation_accuracy], and alpha, beta, the
    loss grid (beta rows) and center_loss of the slice) and landscape.csv (a, loss[, accuracy])."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2 if slice2d is not None else 1, figsize=(11.0 if slice2d else 5.5, 4.6),
                             squeeze=False)
    _draw_line(axes[0, 0], interp)
    if slice2d is not None:
        _draw_slice(axes[0, 1], fig, slice2d)
    fig.suptitle("Loss landscape: a barrier on the line means the end is not linearly connected to the start; "
                 "wide contours round the star mean a flat minimum", fontsize="small")
    fig.tight_layout()
    folder = Path(folder)
    png = _save_png(fig, folder / "landscape.png")
    write_atomic(folder / "landscape.npz", _npz_bytes(_landscape_arrays(interp, slice2d)))
    accuracy = interp.get("accuracy")
    header = ["a", "loss"] + (["accuracy"] if accuracy is not None else [])
    rows = [[a, loss] + ([accuracy[i]] if accuracy is not None else [])
            for i, (a, loss) in enumerate(zip(interp["a"], interp["loss"]))]
    return [png, folder / "landscape.npz", _save_csv(folder / "landscape.csv", header, rows)]
