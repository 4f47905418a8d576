"""What a task is: its targets, its default loss and metrics, and its training step.

The training loop only calls `train_step` and `evaluate`; autoencoders, VAEs, GANs and language
models join as new tasks without touching the loop.
"""
from __future__ import annotations

from typing import Any, Protocol

from dlcli.registry import Registry

tasks = Registry("task")


class Stepper(Protocol):
    """What the engine lends a task to take an optimisation step (see engine/step.py)."""

    def autocast(self) -> Any: ...

    def optimize(self, loss: Any) -> None: ...


class Task(Protocol):
    name: str
    default_loss: str
    default_metrics: list[str]
    default_monitor: str

    def targets(self, y: Any, device: Any) -> Any: ...

    def train_step(self, model: Any, x: Any, y: Any, loss_fn: Any, stepper: Stepper) -> Any: ...

    def evaluate(self, model: Any, x: Any, y: Any, loss_fn: Any, metric_names: list[str], batch_size: int,
                 autocast: Any = None, unscale: Any = None) -> dict: ...


def predict_batched(model: Any, x: Any, batch_size: int) -> Any:
    import torch

    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]).float() for i in range(0, len(x), batch_size)])


class Supervised:
    """Shared by classification and regression: one forward, one loss, one step."""

    def train_step(self, model, x, y, loss_fn, stepper):
        with stepper.autocast():
            out = model(x)
        loss = loss_fn(out.float(), y)
        stepper.optimize(loss)
        return loss.detach()

    def evaluate(self, model, x, y, loss_fn, metric_names, batch_size, autocast=None, unscale=None):
        from contextlib import nullcontext

        from dlcli.tasks.metrics import metrics

        was_training = model.training
        model.eval()
        with autocast() if autocast else nullcontext():
            out = predict_batched(model, x, batch_size)
        model.train(was_training)
        result = {"loss": loss_fn(out, y).item()}
        if unscale is not None:
            out, y = unscale(out), unscale(y)
        for name in metric_names:
            result[name] = metrics.get(name)()(out, y)
        return result
