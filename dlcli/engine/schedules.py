"""Learning-rate schedules, by name: constant, step, cosine (with warm-up), onecycle, plateau.

`per_step` schedules advance after every optimizer step, the others once per epoch. Every
argument is bounded and finite, so `dlcli validate` and the editor's JSON Schema refuse what
torch would only refuse (or silently misuse) mid-run.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from pydantic import Field

from dlcli.components import ComponentArgs
from dlcli.registry import Registry

schedules = Registry("schedule")


class ScheduleArgs(ComponentArgs):
    """Base of every schedule's arguments: unknown keys are errors, numbers are finite."""


class Schedule:
    Args = ScheduleArgs
    per_step = False
    monitor: Optional[str] = None  # a metric the schedule reads at each epoch's end

    def make(self, optimizer: Any, a: Any, steps_per_epoch: int, epochs: int) -> Any:
        raise NotImplementedError


@schedules.register("constant")
class Constant(Schedule):
    """Keep the optimizer's learning rate for the whole run."""

    def make(self, optimizer, a, steps_per_epoch, epochs):
        import torch

        return torch.optim.lr_scheduler.LambdaLR(optimizer, _one)


def _one(_: int) -> float:
    return 1.0


class StepArgs(ScheduleArgs):
    step_size: int = Field(10, gt=0, description="epochs between decays")
    gamma: float = Field(0.1, gt=0, le=1, description="factor the learning rate is multiplied by at each decay")


@schedules.register("step")
class Step(Schedule):
    """Multiply the learning rate by gamma every step_size epochs."""

    Args = StepArgs

    def make(self, optimizer, a, steps_per_epoch, epochs):
        import torch

        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=a.step_size, gamma=a.gamma)


class CosineArgs(ScheduleArgs):
    warmup: float = Field(0.0, ge=0, description="epochs of linear warm-up from 0")
    min_factor: float = Field(0.0, ge=0, le=1, description="final lr as a fraction of the initial one")


class _WarmCosine:
    """Picklable lr factor: linear warm-up, then half a cosine down to min_factor."""

    def __init__(self, warm: int, total: int, floor: float):
        self.warm, self.total, self.floor = warm, max(total, 1), floor

    def __call__(self, step: int) -> float:
        if step < self.warm:
            return (step + 1) / self.warm
        t = min(1.0, (step - self.warm) / max(1, self.total - self.warm))
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * t))


@schedules.register("cosine")
class Cosine(Schedule):
    """Cosine annealing per step (Loshchilov & Hutter 2017), after an optional linear warm-up."""

    Args, per_step = CosineArgs, True

    def make(self, optimizer, a, steps_per_epoch, epochs):
        import torch

        fn = _WarmCosine(round(a.warmup * steps_per_epoch), steps_per_epoch * epochs, a.min_factor)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)


class OneCycleArgs(ScheduleArgs):
    max_lr: Optional[float] = Field(None, gt=0, description="peak lr; default: the optimizer's lr")
    pct_start: float = Field(0.3, gt=0, lt=1, description="fraction of the steps spent warming up")
    div_factor: float = Field(25.0, gt=0, description="the starting lr is max_lr / div_factor")
    final_div_factor: float = Field(1e4, gt=0, description="the final lr is the starting lr / final_div_factor")


@schedules.register("onecycle")
class OneCycle(Schedule):
    """One-cycle policy (Smith 2018): warm up to max_lr, then anneal far below the start."""

    Args, per_step = OneCycleArgs, True

    def make(self, optimizer, a, steps_per_epoch, epochs):
        import torch

        peak = a.max_lr or optimizer.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=peak, total_steps=steps_per_epoch * epochs, pct_start=a.pct_start,
            div_factor=a.div_factor, final_div_factor=a.final_div_factor)


class PlateauArgs(ScheduleArgs):
    monitor: str = Field("val.loss", description="the logged metric watched at each epoch's end")
    factor: float = Field(0.1, gt=0, lt=1, description="the learning rate is multiplied by it on a plateau")
    patience: int = Field(5, ge=0, description="epochs without improvement before the rate drops")
    min_lr: float = Field(0.0, ge=0, description="the learning rate never drops below it")


@schedules.register("plateau")
class Plateau(Schedule):
    """Divide the learning rate by 1/factor when the monitored metric stops improving."""

    Args = PlateauArgs

    def make(self, optimizer, a, steps_per_epoch, epochs):
        import torch

        from dlcli.tasks.metrics import direction

        mode = "max" if direction(a.monitor) == "maximize" else "min"
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=a.factor, patience=a.patience, min_lr=a.min_lr)
