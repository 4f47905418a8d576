"""`dlcli inspect RUN gradients|regions|spectrum|landscape`: the analyses of analysis/ on a run
directory, each writing its picture and numbers under the run's plots/ and returning a JSON-able
report. gradients reads the grad_flow records; the others load the run's evaluated weights."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import numpy as np

from dlcli.engine import rundir
from dlcli.errors import UsageError

ANALYSES = ("gradients", "regions", "spectrum", "landscape")


def plots_folder(run: Path) -> Path:
    folder = Path(run) / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def inspect_gradients(run: Path) -> dict:
    from dlcli.analysis.gradients import gradient_report, load_flow
    from dlcli.analysis.gradients_plot import draw_gradients

    run = rundir.open_run(run)
    flows = load_flow(run)
    report = gradient_report(flows)
    files = draw_gradients(flows, report, plots_folder(run))
    return {"run": str(run), "analysis": "gradients", "roles": report, "files": [str(f) for f in files]}


def the_net(s: Any, analysis: str) -> Any:
    """The run's one network `net`, in eval mode; other tasks are refused by name of their networks."""
    if "net" not in s.nets:
        raise UsageError(f"inspect {analysis} studies one network `net`; this run trains {', '.join(s.nets)}")
    return s.nets["net"].eval()


def class_labels(s: Any, split: str) -> Optional[Any]:
    return s.data.y[split] if s.data.dataset.info.labels == "classes" else None


def inspect_regions(run: Path, plane: str = "auto", bounds: bool = False, resolution: int = 512) -> dict:
    """The exact region count on the plane, the grid count as its check, and (--bounds) the
    theoretical upper bound of a plain ReLU MLP."""
    from dlcli.analysis.regions import exact_regions, grid_regions, hidden_widths, plane_for, serra_bound
    from dlcli.analysis.regions_plot import draw_regions
    from dlcli.workflows.runs import load_run

    run, s = load_run(run)
    net, x, labels = the_net(s, "regions"), s.data.x["train"], class_labels(s, "train")
    where = plane_for(x.double(), plane, labels=labels)
    result = exact_regions(net, where)
    grid = grid_regions(net, where, resolution=resolution)
    report = {"run": str(run), "analysis": "regions", "plane": plane, "count": result.count,
              "per_unit_area": result.density, "area": result.area, "box": list(where.box),
              "grid_count": grid, "grid_resolution": resolution, "seconds": result.seconds}
    if bounds:
        report["bound"] = region_bound(net, hidden_widths, serra_bound)
    files = draw_regions(result, where, plots_folder(run), points=x, labels=labels,
                         classes=s.data.dataset.info.classes, title=f"{run}")
    return {**report, "files": [str(f) for f in files]}


def region_bound(net: Any, hidden_widths: Any, serra_bound: Any) -> dict:
    widths = hidden_widths(net)
    if widths is None:
        return {"value": None, "why": "the bounds are for plain ReLU MLPs; this network has other layers"}
    name = "Zaslavsky" if len(widths) == 1 else "Serra et al. 2018"
    return {"value": serra_bound(widths, 2), "name": name, "hidden_widths": widths}


def loss_set(s: Any, analysis: str, samples: int, seed: int) -> Any:
    """The training loss on `samples` seeded train samples, in the run's own loss."""
    import torch

    from dlcli.analysis.spectrum import LossSet

    if s.loss_fn is None:
        raise UsageError(f"inspect {analysis} studies a task with one training loss (classification, regression); "
                         f"this run's task computes its own losses")
    net, n = the_net(s, analysis), s.data.size("train")
    idx = torch.as_tensor(np.sort(np.random.default_rng(seed).choice(n, min(samples, n), replace=False)),
                          device=s.device)
    x, y, bs = s.data.x["train"][idx], s.data.y["train"][idx], s.eval_batch_size
    return LossSet(net, [(x[i:i + bs], y[i:i + bs]) for i in range(0, len(x), bs)], s.loss_fn)


def inspect_spectrum(run: Path, top: int = 20, samples: int = 512, seed: int = 0) -> dict:
    from dlcli.analysis.spectrum import spectrum
    from dlcli.analysis.spectrum_plot import draw_spectrum
    from dlcli.workflows.runs import load_run

    if top < 1:
        raise UsageError(f"--top must be at least 1 (got {top})")
    run, s = load_run(run)
    result = spectrum(loss_set(s, "spectrum", samples, seed), top=top, seed=seed)
    files = draw_spectrum(result, plots_folder(run))
    return {"run": str(run), "analysis": "spectrum", "seed": seed, **result, "files": [str(f) for f in files]}


def inspect_landscape(run: Path, grid: int = 21, samples: int = 512, seed: int = 0, span: float = 1.0) -> dict:
    """The 1-D path from the initial to the trained weights and a 2-D filter-normalised slice."""
    from dlcli.analysis.landscape import interpolation, slice_2d
    from dlcli.analysis.spectrum_plot import draw_landscape
    from dlcli.engine import checkpoint
    from dlcli.workflows.runs import load_run

    if grid < 3:
        raise UsageError(f"--grid must be at least 3 (got {grid})")
    run, s = load_run(run)
    ls = loss_set(s, "landscape", samples, seed)
    end = {k: v.detach().clone() for k, v in ls.net.state_dict().items()}
    if not checkpoint.weights_path(run, "init").is_file():
        raise UsageError(f"{run} has no initial weights (checkpoints/init.safetensors, written by runs trained "
                         f"since dlcli inspect landscape exists): train the recipe again")
    checkpoint.load_weights(run, "init", s.model)
    start = {k: v.detach().clone() for k, v in ls.net.state_dict().items()}
    ls.net.load_state_dict(end)
    step, beyond = 1.0 / (grid - 1), math.ceil((grid - 1) / 4)  # a quarter past each end, a=0 and a=1 on the grid
    path = interpolation(ls, start, end, points=grid + 2 * beyond, span=(-beyond * step, 1 + beyond * step))
    path["ends"] = [beyond, beyond + grid - 1]  # the indices of a=0 and a=1
    plane = slice_2d(ls, grid=grid, span=span, seed=seed)
    files = draw_landscape(path, plane, plots_folder(run))
    return {"run": str(run), "analysis": "landscape", "samples": ls.samples, "seed": seed, "interpolation": path,
            "slice": plane, "files": [str(f) for f in files]}
