"""gradients.png: the layer-by-step heatmaps of gradient norm and update-to-weight ratio (log
colour), and the activations' dead/saturated share, with gradients.csv beside it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dlcli.report.plots import _closes_figures, _pyplot, _save_csv, _save_png


def _heat(ax, values: np.ndarray, steps: list, rows: list, title: str, log: bool, cmap: str):
    shown = np.log10(np.where(values > 0, values, np.nan)) if log else values
    im = ax.imshow(shown.T, aspect="auto", interpolation="nearest", cmap=cmap,
                   extent=(steps[0] - 0.5, steps[-1] + 0.5, len(rows) - 0.5, -0.5))
    ax.set_yticks(range(len(rows)), labels=rows, fontsize=7)
    ax.set_xlabel("optimizer step")
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(im, ax=ax, fraction=0.04, pad=0.02)


@_closes_figures
def draw_gradients(flows: dict, report: dict, folder: Path) -> list[Path]:
    """One row of panels per optimizer role; the caption repeats the first finding."""
    plt = _pyplot()
    roles = list(flows)
    fig, axes = plt.subplots(len(roles), 3, figsize=(15, 1.2 + 0.35 * max(len(flows[r]["layers"]) for r in roles)
                                                      * len(roles) + 1.5), squeeze=False)
    for ax_row, role in zip(axes, roles):
        f = flows[role]
        label = f"{role}: " if len(roles) > 1 else ""
        _heat(ax_row[0], f["grad_norm"], f["steps"], f["layers"], f"{label}log10 gradient norm", True, "viridis")
        _heat(ax_row[1], f["update_ratio"], f["steps"], f["layers"], f"{label}log10 update / weight", True, "magma")
        acts = f["activations"]
        if acts:
            share = np.array([a["share"] for a in acts.values()], dtype=np.float64).T
            names = [f"{n} ({'dead' if a['kind'] == 'relu' else 'saturated'})" for n, a in acts.items()]
            _heat(ax_row[2], share, f["steps"], names, f"{label}share of units dead / saturated", False, "Reds")
        else:
            ax_row[2].set_axis_off()
    first = next(iter(report.values()))["findings"][0]
    fig.text(0.01, 0.005, f"Look for rows that fade to dark: {first}", fontsize=9)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    png = _save_png(fig, Path(folder) / "gradients.png")
    rows = [[role, f["epochs"][i], step, name, f["grad_norm"][i, j], f["weight_norm"][i, j], f["update_ratio"][i, j]]
            for role, f in flows.items() for i, step in enumerate(f["steps"]) for j, name in enumerate(f["layers"])]
    csv = _save_csv(Path(folder) / "gradients.csv",
                    ["role", "epoch", "step", "layer", "grad_norm", "weight_norm", "update_ratio"], rows)
    return [png, csv]
