"""`Fit`: what the engine lends a task (DESIGN section 4): the networks, the data on the device,
autocast, the seeded generator, the optimizer roles and the two ways to update them:
`step(loss, role)` (zero grad, penalties, scaled backward, clipping, optimizer and per-step
schedule, DDP through the wrapped training networks) and `apply(grads, role)` for updates that
are not a backward pass (contrastive divergence)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from dlcli.engine.tensors import RunData


@dataclass
class Role:
    """One optimizer role: the networks it updates, its optimizer and schedule."""

    networks: tuple
    params: list
    optimizer: Any = None
    scheduler: Any = None
    schedule: Any = None  # the registry entry (per_step)
    schedule_args: Any = None
    steps: int = 0  # optimizer steps taken


@dataclass
class Fit:
    resolved: Any
    device: Any
    task: Any
    data: RunData
    model: Any  # the Bundle: normalisation buffers + every network; what checkpoints save
    loss_fn: Optional[Callable]
    metric_names: list
    autocast: Callable[[], Any]
    gen: Any = None
    roles: dict = field(default_factory=dict)  # role -> Role
    train_nets: dict = field(default_factory=dict)  # name -> the net, or it compiled and/or DDP-wrapped
    augment: Optional[Callable] = None
    determinism: dict = field(default_factory=dict)
    channels_last: bool = False
    flops_per_sample: Optional[float] = None
    peak_flops: Optional[float] = None
    dist: Any = None  # engine.distributed.Distributed
    callbacks: Any = None  # engine.callbacks.Callbacks: on_after_backward hangs off step()
    grad_clip: Optional[float] = None
    l1: float = 0.0
    l2: float = 0.0
    scaler: Any = None
    steps_per_epoch: int = 0

    @property
    def nets(self) -> dict:
        """Every network by name, without normalisation: training feeds them data normalised once."""
        return dict(self.model.networks.items())

    @property
    def batch_size(self) -> int:
        return self.resolved.recipe.train.batch_size

    @property
    def eval_batch_size(self) -> int:
        t = self.resolved.recipe.train
        return t.eval_batch_size or max(t.batch_size, 1024)

    @property
    def monitor(self) -> str:
        es = self.resolved.recipe.train.early_stopping
        if es is not None:
            return es.monitor
        return "val.loss" if self.data.size("val") else "train.loss"

    def evaluate(self, split: str) -> dict:
        return self.task.evaluate(split, self)

    def unscale(self, t: Any) -> Any:
        """Real-valued targets back in their own units (they train standardised)."""
        if self.data.y_shift is None:
            return t
        return t * self.model.y_scale + self.model.y_shift

    def role(self, role: Optional[str]) -> Role:
        if role is None and len(self.roles) == 1:
            return next(iter(self.roles.values()))
        return self.roles[role]

    def step(self, loss: Any, role: Optional[str] = None) -> None:
        """One optimizer step of `role` (the only one when None) on `loss`."""
        r = self.role(role)
        loss = loss + self.penalty(r) if (self.l1 or self.l2) else loss
        r.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(r.optimizer)
        else:
            loss.backward()
        self.finish_step(r, role)

    def apply(self, grads: dict, role: Optional[str] = None) -> None:
        """An update that is not a backward pass: `grads` maps parameter name (as in the Bundle) to
        the gradient the optimizer descends; parameters it leaves out are not moved."""
        r = self.role(role)
        named = dict(self.model.named_parameters())
        r.optimizer.zero_grad(set_to_none=True)
        for name, g in grads.items():
            named[name].grad = g.detach().to(named[name].dtype)
        self.finish_step(r, role)

    def finish_step(self, r: Role, role: Optional[str]) -> None:
        import torch

        if self.callbacks is not None:
            self.callbacks.after_backward(self, role or next(iter(self.roles)))
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(r.params, self.grad_clip)
        if self.scaler is not None:
            self.scaler.step(r.optimizer)
            self.scaler.update()
        else:
            r.optimizer.step()
        r.steps += 1
        if r.schedule.per_step:
            r.scheduler.step()

    def penalty(self, r: Role) -> Any:
        total = 0.0
        for w in (p for p in r.params if p.ndim >= 2):
            if self.l1:
                total = total + self.l1 * w.abs().sum()
            if self.l2:
                total = total + self.l2 * w.pow(2).sum()
        return total

    def lr(self) -> dict:
        """The current learning rate of every role: {"lr": x} for one role, {"lr.<role>": x} for several."""
        if len(self.roles) == 1:
            return {"lr": next(iter(self.roles.values())).optimizer.param_groups[0]["lr"]}
        return {f"lr.{name}": r.optimizer.param_groups[0]["lr"] for name, r in self.roles.items()}

    def held_out_raw(self, n: Optional[int] = None) -> np.ndarray:
        """Raw held-out samples in the shape users give: the test split, else val, else train."""
        data = self.data
        split = next(k for k in ("test", "val", "train") if data.size(k))
        x = data.dataset.x[data.indices[split][:n]]
        return np.ascontiguousarray(x.reshape((len(x),) + data.dataset.info.user_shape), dtype=np.float32)

    def train_mode(self, on: bool = True) -> None:
        self.model.train(on)
