"""The training loop: one readable function, the same for every task."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from dlcli.engine.setup import Session, steps_per_epoch
from dlcli.errors import RunFailed


class Diverged(RunFailed):
    """The loss became NaN or infinite."""


class StopTraining(Exception):
    """Raised by an epoch hook to end a run early on purpose (a pruned search trial);
    `status` goes into run.json."""

    def __init__(self, reason: str, status: str = "stopped"):
        super().__init__(reason)
        self.status = status


@dataclass
class LoopState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    best: Optional[float] = None
    best_epoch: int = 0
    stale: int = 0  # epochs since the monitored metric last improved
    stop_reason: str = "completed"


def check_finite(losses: Any, epoch: int, first_step: int) -> None:
    """Raise Diverged naming the first non-finite loss; `losses` are steps first_step, first_step + 1, ..."""
    import torch

    bad = ~torch.isfinite(losses)
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        raise Diverged(f"the loss became {losses[i].item()} at epoch {epoch}, step {first_step + i}")


def lr_of(s: Session) -> float:
    return s.optimizer.param_groups[0]["lr"]


def step_schedule(s: Session, record: dict) -> None:
    """Epoch-level schedules advance here; plateau reads its monitored metric."""
    if s.schedule.per_step:
        return
    monitor = getattr(s.schedule_args, "monitor", None)
    if monitor:
        s.scheduler.step(record.get(monitor, record["train.loss"]))
    else:
        s.scheduler.step()


def fit(s: Session, state: LoopState, on_step: Optional[Callable[[int, int, float], None]],
        on_epoch: Callable[[dict, LoopState], bool]) -> LoopState:
    """Train from state.epoch + 1 to the recipe's epochs; on_epoch returns True to stop early.
    on_step (progress display), when given, gets (steps done, steps, latest loss)."""
    import torch

    net, x, y = s.net, s.data.x["train"], s.data.y["train"]
    n, bs, steps = len(x), s.batch_size, steps_per_epoch(s)
    # each check is a host sync: every step would stall a GPU, and the buffer names the step anyway
    every = max(1, min(25, steps // 20)) if on_step is not None and s.device.type == "cpu" else 100
    has_val = s.data.size("val") > 0
    for epoch in range(state.epoch + 1, s.resolved.recipe.train.epochs + 1):
        net.train()
        started = time.perf_counter()
        perm = torch.randperm(n, generator=s.gen, device=s.device)
        losses, checked = torch.zeros(steps, device=s.device), 0
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            xb, yb = x[idx], y[idx]  # (B, ...) gathered on the device
            if s.augment is not None:
                xb, yb = s.augment(xb, yb, s.gen)
            losses[i] = s.task.train_step(net, xb, yb, s.loss_fn, s.stepper)
            if (i + 1) % every == 0 or i + 1 == steps:
                check_finite(losses[checked:i + 1], epoch, checked + 1)
                checked = i + 1
                if on_step is not None:
                    on_step(i + 1, steps, losses[i].item())
        state.step += steps
        seconds = time.perf_counter() - started
        record = {"epoch": epoch, "train.loss": losses.mean().item(), "lr": lr_of(s),
                  "seconds": round(seconds, 4), "samples_per_s": round(min(n, steps * bs) / seconds, 1)}
        if has_val:
            record.update({f"val.{k}": v for k, v in s.evaluate("val").items() if not isinstance(v, list)})
        step_schedule(s, record)
        state.epoch = epoch
        if on_epoch(record, state):
            break
    return state
