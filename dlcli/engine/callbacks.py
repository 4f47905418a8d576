"""Callbacks: what happens around the loop without being the loop (DESIGN section 4).

The engine's own (best tracking, metrics file, checkpoints, console, early stopping) and a
search's pruner hang on the same four hooks as the ones a recipe names in `train.callbacks`:
`on_fit_start`, `on_after_backward`, `on_epoch_end` (True stops training), `on_fit_end`;
`on_step` is called at the loop's finite-loss checks (a few times per epoch) for progress.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from dlcli.components import ComponentArgs
from dlcli.registry import Registry

callbacks = Registry("callback")


class Callback:
    """No-op hooks; a callback overrides the ones it needs."""

    def on_fit_start(self, fit: Any, state: Any) -> None: ...

    def on_step(self, fit: Any, state: Any, done: int, steps: int, scalars: dict) -> None: ...

    def on_after_backward(self, fit: Any, role: str) -> None: ...

    def on_epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        return False

    def on_fit_end(self, fit: Any, state: Any) -> None: ...


class Callbacks:
    """Calls each hook on every callback in order; epoch ends stop when any callback says so,
    but every callback still sees the epoch (the checkpoint of the last epoch is written)."""

    def __init__(self, items: list):
        self.items = items

    def fit_start(self, fit: Any, state: Any) -> None:
        for c in self.items:
            c.on_fit_start(fit, state)

    def step(self, fit: Any, state: Any, done: int, steps: int, scalars: dict) -> None:
        for c in self.items:
            c.on_step(fit, state, done, steps, scalars)

    def after_backward(self, fit: Any, role: str) -> None:
        for c in self.items:
            c.on_after_backward(fit, role)

    def epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        stop = False
        for c in self.items:
            stop = bool(c.on_epoch_end(fit, record, state)) or stop
        return stop

    def fit_end(self, fit: Any, state: Any) -> None:
        for c in self.items:
            c.on_fit_end(fit, state)


def improved(value: float, best: Optional[float], maximize: bool, min_delta: float) -> bool:
    if best is None:
        return True
    return value > best + min_delta if maximize else value < best - min_delta


class Best(Callback):
    """Tracks the monitored metric's best value and epoch; sets state.improved for the others."""

    def __init__(self, monitor: str, maximize: bool, min_delta: float = 0.0):
        self.monitor, self.maximize, self.min_delta = monitor, maximize, min_delta

    def on_epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        if self.monitor not in record:
            from dlcli.errors import RunFailed

            raise RunFailed(f"the monitored {self.monitor} is not in this run's epoch records "
                            f"({', '.join(k for k in record if k.startswith(('train.', 'val.')))}); monitor one of them")
        value = record[self.monitor]
        state.improved = improved(value, state.best, self.maximize, self.min_delta)
        if state.improved:
            state.best, state.best_epoch, state.stale = value, record["epoch"], 0
        else:
            state.stale += 1
        return False


class EarlyStopping(Callback):
    """Stops when the monitored metric has not improved for `patience` epochs."""

    def __init__(self, monitor: str, patience: int):
        self.monitor, self.patience = monitor, patience

    def on_epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        if state.stale < self.patience:
            return False
        state.stop_reason = f"early stopping: {self.monitor} did not improve for {self.patience} epochs"
        return True


class MetricsFile(Callback):
    """metrics.jsonl, one line per epoch, after the last epoch's checkpoints are on disk (a full
    disk stops the run here) and before this epoch's state (a resume trims lines past it)."""

    def __init__(self, run: Path, writer: Any):
        self.run, self.writer = run, writer

    def on_epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        from dlcli.engine import rundir

        self.writer.flush()
        rundir.append_metrics(self.run, record)
        return False


class Checkpoint(Callback):
    """init.safetensors before training; best.safetensors when the monitored metric improved, then
    last.state.safetensors."""

    def __init__(self, run: Path, writer: Any):
        self.run, self.writer = run, writer

    def on_fit_start(self, fit: Any, state: Any) -> None:
        """checkpoints/init.safetensors: the weights before any step (the loss landscape starts there)."""
        from dlcli.engine import checkpoint

        if state.epoch == 0:
            self.writer.write(checkpoint.weights_path(self.run, "init"), checkpoint.weights_blob(fit.model, 0))

    def on_epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        from dlcli.engine import checkpoint

        checkpoint.save(self.run, fit.model, checkpoint.training_state(fit, state), state.improved, self.writer)
        return False


class Console(Callback):
    """The TrainReporter: a live bar on a terminal, a line per epoch otherwise."""

    def __init__(self, reporter: Any, run: Path):
        self.reporter, self.run = reporter, run

    def on_fit_start(self, fit: Any, state: Any) -> None:
        from dlcli.nn.model import count_params

        self.reporter.started(self.run, fit.resolved.recipe.train.epochs, state.epoch, str(fit.device),
                              count_params(fit.model))

    def on_step(self, fit: Any, state: Any, done: int, steps: int, scalars: dict) -> None:
        self.reporter.step(done, steps, scalars, state.epoch + 1, fit.batch_size)

    def on_epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        self.reporter.epoch(record, state.improved)
        return False


class EpochHook(Callback):
    """A plain function of the epoch's record (a search's pruner); it may raise StopTraining."""

    def __init__(self, hook: Any):
        self.hook = hook

    def on_epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        self.hook(record)
        return False


class GradNormArgs(ComponentArgs):
    """No arguments."""


@callbacks.register("grad_norm")
class GradNorm(Callback):
    """Each role's global gradient norm before clipping, the epoch's mean, in metrics.jsonl.

    Logged as train.grad_norm (one role) or train.grad_norm.<role>."""

    Args = GradNormArgs

    def __init__(self, args: Any = None):
        self.sums: dict = {}

    def on_after_backward(self, fit: Any, role: str) -> None:
        import torch

        grads = [p.grad.detach().float().norm() for p in fit.roles[role].params if p.grad is not None]
        norm = torch.stack(grads).norm() if grads else torch.zeros((), device=fit.device)
        total, count = self.sums.get(role, (0.0, 0))
        self.sums[role] = (total + norm, count + 1)  # a device tensor: no host sync per step

    def on_epoch_end(self, fit: Any, record: dict, state: Any) -> bool:
        one = len(self.sums) == 1
        for role, (total, count) in self.sums.items():
            record["train.grad_norm" if one else f"train.grad_norm.{role}"] = float(total / count)
        self.sums = {}
        return False
