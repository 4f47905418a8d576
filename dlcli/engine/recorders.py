"""Recorders: callbacks that keep what `dlcli inspect` and `dlcli atlas` look at afterwards.

Each writes `records/<name>/epoch-NNNN.<ext>` in the run directory through the run's background
writer, so a record reaches the disk before the epoch's metrics line and a resumed run rewrites
the epochs it trains again. Rank 0 writes; other ranks keep nothing. Importing this module
completes the callbacks registry (vocab.py and recipe checking read it from here).
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, PositiveInt

from dlcli.components import ComponentArgs
from dlcli.engine.callbacks import Callback, callbacks

ACTIVATIONS = {"ReLU": "relu", "LeakyReLU": "relu", "ReLU6": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh",
               "Hardtanh": "tanh"}


def record_path(run: Path, name: str, epoch: int, ext: str) -> Path:
    return Path(run) / "records" / name / f"epoch-{epoch:04d}.{ext}"


class Recorder(Callback):
    """A callback that writes records; `bind` gives it the run and the writer (None off rank 0)."""

    run: Optional[Path] = None
    writer: Any = None

    def bind(self, run: Optional[Path], writer: Any) -> None:
        self.run, self.writer = run, writer

    def save(self, name: str, epoch: int, ext: str, data: str | bytes) -> None:
        if self.run is not None:
            self.writer.write(record_path(self.run, name, epoch, ext), data)


# ----------------------------------------------------------------------------- grad_flow


class GradFlowArgs(ComponentArgs):
    every: PositiveInt = Field(10, description="optimizer steps between records")


class LayerIndex:
    """The layers with parameters of a role's networks: their names, kinds and parameters."""

    def __init__(self, fit: Any, role: str):
        import torch

        self.names, self.kinds, self.params, owner = [], [], [], []
        for net in fit.roles[role].networks:
            for path, module in fit.nets[net].named_modules():
                own = [p for p in module.parameters(recurse=False) if p.requires_grad]
                if own:
                    owner += [len(self.names)] * len(own)
                    self.names.append(f"{net}.{path}" if path else net)
                    self.kinds.append(type(module).__name__)
                    self.params += own
        self.owner = torch.tensor(owner, device=fit.device)

    def per_layer(self, norms: Any) -> Any:
        """(layers,) L2 norms from one norm per parameter tensor, in two kernels."""
        import torch

        squares = torch.stack(norms).float() ** 2
        return torch.zeros(len(self.names), device=squares.device).index_add_(0, self.owner, squares).sqrt()


@callbacks.register("grad_flow")
class GradFlow(Recorder):
    """Per layer, every `every` steps: gradient norm, weight norm, update-to-weight ratio, and the
    activations' dead-ReLU or saturated sigmoid/tanh fraction; read by `dlcli inspect RUN gradients`."""

    Args = GradFlowArgs

    def __init__(self, args: Any = None):
        self.every = (args or GradFlowArgs()).every
        self.index: dict = {}
        self.rows: dict = {}
        self.before: dict = {}  # role -> (step, weights before that step's update)
        self.seen, self.hooks, self.watched = {}, [], []

    def on_fit_start(self, fit: Any, state: Any) -> None:
        self.index = {role: LayerIndex(fit, role) for role in fit.roles}
        self.rows = {role: [] for role in fit.roles}
        self.activations = {}
        for net, module in fit.nets.items():
            for path, m in module.named_modules():
                kind = ACTIVATIONS.get(type(m).__name__)
                if kind:
                    self.activations[f"{net}.{path}"] = kind
                    self.watched.append((f"{net}.{path}", kind, m))
        self.arm(self.due(fit, next(iter(fit.roles)), 0))

    def due(self, fit: Any, role: str, ahead: int) -> bool:
        return (fit.roles[role].steps + ahead) % self.every == 0

    def arm(self, on: bool) -> None:
        """Hooks on the activations only for the forward of a recorded step: between records the
        forward pays nothing."""
        for h in self.hooks:
            h.remove()
        self.hooks = [m.register_forward_hook(self.watch(name, kind)) for name, kind, m in self.watched] if on else []

    def watch(self, name: str, kind: str) -> Any:
        def hook(module: Any, inputs: Any, out: Any) -> None:
            import torch

            if torch.is_grad_enabled() and isinstance(out, torch.Tensor):  # not an evaluation's forward
                self.seen[name] = activation_share(out.detach(), kind)
        return hook

    def on_after_backward(self, fit: Any, role: str) -> None:
        import torch

        r, index = fit.roles[role], self.index[role]
        self.finish_update(role, index)
        if self.due(fit, role, 0):
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in index.params]
            row = {"step": r.steps, "grad": index.per_layer(torch._foreach_norm(grads)),
                   "weight": index.per_layer(torch._foreach_norm(index.params)), "acts": dict(self.seen)}
            self.rows[role].append(row)
            self.before[role] = (row, [p.detach().clone() for p in index.params])
            self.seen = {}
        if role == next(iter(fit.roles)):
            self.arm(self.due(fit, role, 1))

    def finish_update(self, role: str, index: LayerIndex) -> None:
        """The update ratio of the last recorded step, now that its optimizer step is done."""
        import torch

        if role not in self.before:
            return
        row, old = self.before.pop(role)
        moved = index.per_layer(torch._foreach_norm(torch._foreach_sub([p.detach() for p in index.params], old)))
        row["update"] = moved / index.per_layer(torch._foreach_norm(old)).clamp_min(1e-12)

    def on_epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        for role, index in self.index.items():
            self.finish_update(role, index)
        doc = {"every": self.every, "roles": {role: self.role_doc(role) for role in self.index}}
        self.save("grad_flow", state.epoch, "json", json.dumps(doc))
        self.rows = {role: [] for role in self.index}
        return False

    def role_doc(self, role: str) -> dict:
        """One role's epoch: per layer, a list over the recorded steps (one host sync here)."""
        index, rows = self.index[role], self.rows[role]

        def column(key: str) -> list:
            return [[float(v) for v in r[key].tolist()] if key in r else None for r in rows]
        acts = sorted({n for r in rows for n in r["acts"]}, key=list(self.activations).index)
        return {"layers": index.names, "kinds": index.kinds, "steps": [r["step"] for r in rows],
                "grad_norm": column("grad"), "weight_norm": column("weight"), "update_ratio": column("update"),
                "activations": {n: {"kind": self.activations[n], "share": [float(r["acts"][n]) if n in r["acts"] else None
                                                                          for r in rows]} for n in acts}}

    def on_fit_end(self, fit: Any, state: Any) -> None:
        self.arm(False)


def activation_share(out: Any, kind: str) -> Any:
    """relu: the share of units (features) that are zero for every sample of the batch (dead);
    sigmoid/tanh: the share of outputs within 1% of a bound (saturated, so barely any gradient)."""
    if kind == "relu":
        return (out.flatten(1) <= 0).all(0).float().mean() if out.ndim > 1 else (out <= 0).float().mean()
    if kind == "sigmoid":
        return ((out < 0.01) | (out > 0.99)).float().mean()
    return (out.abs() > 0.99).float().mean()


# --------------------------------------------------------------------------------- probe


class ProbeArgs(ComponentArgs):
    samples: PositiveInt = Field(512, description="probe samples drawn from the split (all of it when smaller)")
    split: Literal["test", "val", "train"] = Field("test", description="the split the probe samples come from")
    seed: int = Field(0, description="seed of the draw: runs with the same data and seed share one probe set")


@callbacks.register("probe")
class Probe(Recorder):
    """Every epoch (and before the first), the predicted class probabilities on a fixed seeded
    probe set, float16, in records/probe/; `dlcli atlas` embeds them (InPCA)."""

    Args = ProbeArgs

    def __init__(self, args: Any = None):
        self.args = args or ProbeArgs()
        self.x = None

    def refuses(self, task: Any) -> Optional[str]:
        if not task.predicts_probabilities:
            return "probe records predicted class probabilities, and this task predicts none; classification does"
        return None

    def on_fit_start(self, fit: Any, state: Any) -> None:
        import numpy as np

        a, size = self.args, fit.data.size(self.args.split)
        if not size:
            raise_empty(a.split)
        idx = np.sort(np.random.default_rng(a.seed).choice(size, min(a.samples, size), replace=False))
        self.x = fit.data.x[a.split][idx]
        meta = {"split": a.split, "seed": a.seed, "samples": len(idx), "indices": idx.tolist(),
                "digest": probe_digest(fit.data.dataset, fit.data.indices[a.split][idx]),
                "classes": fit.data.dataset.info.classes}
        if self.run is not None:
            self.writer.write(Path(self.run) / "records" / "probe" / "probe.json", json.dumps(meta))
        if state.epoch == 0:
            self.record(fit, 0)

    def record(self, fit: Any, epoch: int) -> None:
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, fit.task.probabilities(self.x, fit).cpu().numpy().astype(np.float16))
        self.save("probe", epoch, "npy", buf.getvalue())

    def on_epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        self.record(fit, state.epoch)
        return False


def probe_digest(dataset: Any, rows: Any) -> str:
    """sha256 of the probe samples as loaded (before normalisation) and their labels: two runs
    whose probes agree on it predicted on the same samples."""
    import hashlib

    import numpy as np

    rows = np.asarray(rows.cpu() if hasattr(rows, "cpu") else rows)
    h = hashlib.sha256(np.ascontiguousarray(dataset.x[rows]).tobytes())
    if dataset.y is not None:
        h.update(np.ascontiguousarray(dataset.y[rows]).tobytes())
    return h.hexdigest()


def raise_empty(split: str) -> None:
    from dlcli.errors import UsageError

    raise UsageError(f"train.callbacks probe draws from the {split} split, which is empty: give data.split a "
                     f"{split} share, or set probe's split to one that has samples")


# ------------------------------------------------------------------------------- regions


class RegionsArgs(ComponentArgs):
    plane: str = Field("auto", description="auto, input (2-D data) or 'i,j,k': the plane through three training samples")


@callbacks.register("regions")
class Regions(Callback):
    """The exact count of linear regions of `net` on a 2-D plane of its input, each epoch, logged
    as train.regions in metrics.jsonl (a piecewise-linear network only)."""

    Args = RegionsArgs

    def __init__(self, args: Any = None):
        self.args = args or RegionsArgs()
        self.plane = None

    def refuses(self, task: Any) -> Optional[str]:
        if "net" not in task.network_names():
            return "regions counts the linear regions of one network `net`; this task trains " + \
                ", ".join(task.network_names())
        return None

    def on_fit_start(self, fit: Any, state: Any) -> None:
        from dlcli.analysis.regions import plane_for

        from dlcli.errors import UsageError

        labels = fit.data.y["train"] if fit.data.dataset.info.labels == "classes" else None
        try:
            self.plane = plane_for(fit.data.x["train"], self.args.plane, labels=labels)
            self.count(fit)  # a network that is not piecewise linear stops here, before any training
        except UsageError as e:  # said of the recipe's callback, not of inspect's flag
            raise UsageError("train.callbacks regions: " + str(e).replace("--plane", "plane")) from None

    def count(self, fit: Any) -> int:
        from dlcli.analysis.regions import exact_regions

        net = fit.nets["net"]
        was = net.training
        net.eval()
        try:
            return exact_regions(net, self.plane).count
        finally:
            net.train(was)

    def on_epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        record["train.regions"] = self.count(fit)
        return False
