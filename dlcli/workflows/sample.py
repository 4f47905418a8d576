"""`dlcli sample`: draw from a generative run, or reconstruct its held-out samples.

The inputs (noise, latent codes, labels) come from the task, drawn with numpy from `--seed`; they
go through the run's exported module with ONNX Runtime when the file is there, through the same
module in PyTorch otherwise, so both give the same numbers for the same seed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from dlcli.errors import UsageError


def sample_run(run_dir: Path, n: int = 64, label: Optional[int] = None, seed: int = 0, out: Optional[Path] = None,
               reconstruct: bool = False, engine: str = "auto") -> dict:
    """Sample (or reconstruct) and write an image grid, a CSV or an npz; returns what was done."""
    from dlcli.workflows.runs import load_run

    if n < 1:
        raise UsageError(f"--n must be at least 1, got {n}")
    run, fit = load_run(run_dir)
    task = fit.task
    if not task.samples_rows:
        raise UsageError(f"{run} is a {fit.resolved.task} run: `dlcli sample` draws from generative runs "
                         f"(autoencoder, vae, gan, cgan)")
    fit.model.to("cpu").eval()
    modules = task.export_modules(fit)
    reconstruct = reconstruct or not hasattr(task, "sample_inputs")  # an autoencoder has no prior to draw from
    check_label(task, fit, label, reconstruct)
    if reconstruct:
        return reconstruct_rows(run, fit, modules, n, out, engine)
    inputs = task.sample_inputs(n, seed, label)
    stem = next(iter(m for m in ("generator", "decoder") if m in modules))
    rows, used = run_module(run, stem, modules[stem].module, inputs, engine)
    labels = inputs.get("label")
    files = write_rows(rows, fit, out or default_out(run, fit, "samples"), labels)
    return {"run": str(run), "task": fit.resolved.task, "n": n, "seed": seed, "label": label, "engine": used,
            "module": f"{stem}.onnx", "files": [str(f) for f in files]}


def check_label(task: Any, fit: Any, label: Optional[int], reconstruct: bool) -> None:
    classes = len(fit.data.dataset.info.classes or [])
    if label is None:
        return
    if not getattr(task, "conditional", False) or reconstruct:
        raise UsageError(f"--label picks the class a conditional GAN generates; this is a {fit.resolved.task} run")
    if not 0 <= label < classes:
        raise UsageError(f"--label {label} is out of range: the run has {classes} classes, 0 to {classes - 1}")


def run_module(run: Path, stem: str, module: Any, inputs: dict, engine: str) -> tuple[np.ndarray, str]:
    """The module's output on `inputs`: ONNX Runtime on RUN/<stem>.onnx when it exists (or is asked
    for), PyTorch otherwise."""
    path = run / f"{stem}.onnx"
    if engine == "onnxruntime" and not path.is_file():
        raise UsageError(f"{path} is missing: run `dlcli export {run}` first, or use --engine pytorch")
    if engine != "pytorch" and path.is_file():
        from dlcli.export.parity import ort_session

        session = ort_session(path.read_bytes())
        names = [i.name for i in session.get_inputs()]
        return np.asarray(session.run(None, dict(zip(names, inputs.values())))[0]), "onnxruntime"
    import torch

    with torch.no_grad():
        return module(*(torch.as_tensor(v) for v in inputs.values())).float().numpy(), "pytorch"


def reconstruct_rows(run: Path, fit: Any, modules: dict, n: int, out: Optional[Path], engine: str) -> dict:
    """The first n samples of the test split (val, train when it is empty) through encoder and decoder."""
    if "encoder" not in modules or "decoder" not in modules:
        raise UsageError(f"--reconstruct needs an encoder and a decoder; {run} is a {fit.resolved.task} run")
    x = fit.held_out_raw(n)
    codes, used = run_module(run, "encoder", modules["encoder"].module, {"input": x}, engine)
    rows, _ = run_module(run, "decoder", modules["decoder"].module, {"code": codes.astype(np.float32)}, engine)
    files = write_reconstructions(x, rows, fit, out or default_out(run, fit, "reconstructions"))
    if codes.shape[1] == 2:
        files += latent_plot(fit, codes, run)
    return {"run": str(run), "task": fit.resolved.task, "n": len(x), "engine": used, "reconstruct": True,
            "mse": float(np.mean((rows.reshape(x.shape) - x) ** 2)), "files": [str(f) for f in files]}


def latent_plot(fit: Any, codes: np.ndarray, run: Path) -> list:
    from dlcli.report.plots import latent_scatter
    from dlcli.tasks.pictures import held_out_labels

    labels = held_out_labels(fit, len(codes))
    return latent_scatter(codes, None if labels is None else labels.tolist(), run / "plots")


def is_image(fit: Any) -> bool:
    return fit.data.dataset.info.layout == "image"


def default_out(run: Path, fit: Any, name: str) -> Path:
    return run / "plots" / f"{name}.png" if is_image(fit) else run / f"{name}.csv"


def image_shape(fit: Any) -> tuple:
    return tuple(fit.data.dataset.info.input_shape)


def write_rows(rows: np.ndarray, fit: Any, out: Path, labels: Any = None) -> list:
    """A PNG grid for image data (one row per label for a conditional GAN), else CSV or npz rows."""
    out = Path(out)
    if out.suffix == ".png":
        if not is_image(fit):
            raise UsageError(f"--out {out}: this run's data are not images; write .csv or .npz")
        from dlcli.report.plots import image_grid

        images = rows.reshape(len(rows), *image_shape(fit))
        return image_grid(images, out.parent, out.stem, None if labels is None else labels.tolist())
    return [write_table(out, rows.reshape(len(rows), -1), fit, labels)]


def write_reconstructions(x: np.ndarray, rows: np.ndarray, fit: Any, out: Path) -> list:
    out = Path(out)
    if out.suffix == ".png":
        if not is_image(fit):
            raise UsageError(f"--out {out}: this run's data are not images; write .csv or .npz")
        from dlcli.report.plots import reconstructions

        shape = image_shape(fit)
        paths = reconstructions(x.reshape(len(x), *shape), rows.reshape(len(rows), *shape), out.parent)
        return paths
    return [write_table(out, rows.reshape(len(rows), -1), fit, None)]


def write_table(out: Path, rows: np.ndarray, fit: Any, labels: Any) -> Path:
    """rows as CSV (a header of feature names, or x0, x1, ...; a label column when conditional) or npz."""
    import io

    from dlcli.fsio import write_atomic

    if out.suffix == ".npz":
        buf = io.BytesIO()
        np.savez(buf, x=rows, **({"label": labels} if labels is not None else {}))
        write_atomic(out, buf.getvalue())
        return out
    if out.suffix != ".csv":
        raise UsageError(f"--out {out}: write .png (image data), .csv or .npz")
    names = fit.data.dataset.info.feature_names or [f"x{i}" for i in range(rows.shape[1])]
    header = ([] if labels is None else ["label"]) + list(names)[:rows.shape[1]]
    lines = [",".join(header)] + [",".join(([str(int(labels[i]))] if labels is not None else []) +
                                           [repr(float(v)) for v in row]) for i, row in enumerate(rows)]
    write_atomic(out, "\n".join(lines) + "\n")
    return out
