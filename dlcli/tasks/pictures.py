"""The end-of-training pictures of the generative tasks (DESIGN section 5), drawn through the same
modules the run exports: reconstructions, sample grids, generated points over the real ones, and
the latent map when the code has two dimensions."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def as_numpy(module: Any, *inputs: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return module(*(torch.as_tensor(v) for v in inputs)).float().cpu().numpy()


def held_out_labels(fit: Any, n: int) -> Any:
    data = fit.data
    split = next(k for k in ("test", "val", "train") if data.size(k))
    return data.dataset.y[data.indices[split][:n]] if data.dataset.info.labels == "classes" else None


def reconstructions(fit: Any, modules: dict, folder: Path, n: int = 20) -> list[Path]:
    """Held-out images over their reconstructions; the latent map of 500 held-out samples when 2-D."""
    from dlcli.report import plots

    shape, paths = tuple(fit.data.dataset.info.input_shape), []
    x = fit.held_out_raw(500)
    codes = as_numpy(modules["encoder"].module, x)
    if fit.data.dataset.info.layout == "image":
        rows = as_numpy(modules["decoder"].module, codes[:n].astype(np.float32))
        paths += plots.reconstructions(x[:n].reshape(-1, *shape), rows.reshape(-1, *shape), folder)
    if codes.shape[1] == 2:
        labels = held_out_labels(fit, len(codes))
        paths += plots.latent_scatter(codes, None if labels is None else labels.tolist(), folder)
    return paths


def samples(fit: Any, module: Any, inputs: dict, folder: Path) -> list[Path]:
    """A grid of generated images (a row per label when labelled), or 2-D points over the real data."""
    from dlcli.report import plots

    info, extra = fit.data.dataset.info, fit.data.dataset.extra
    rows = as_numpy(module, *inputs.values())
    labels = inputs.get("label")
    if info.layout == "image":
        images = rows.reshape(len(rows), *tuple(info.input_shape))
        return plots.image_grid(images, folder, "samples", None if labels is None else labels.tolist())
    if rows.reshape(len(rows), -1).shape[1] == 2:
        real = fit.data.dataset.x[fit.data.indices["train"]].reshape(-1, 2)
        return plots.points(rows.reshape(-1, 2), real, folder, "samples", extra.get("modes"))
    return []
