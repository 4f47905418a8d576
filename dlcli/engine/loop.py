"""The training loop: one readable function, the same for every task."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from dlcli.engine.setup import Session, steps_per_epoch
from dlcli.engine.throughput import EpochTimer
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


def warm_steps(s: Session, epoch: int, first: int, steps: int) -> set:
    """Steps a compile spends compiling: the first one run, and a short last batch (a new shape)."""
    if not s.resolved.recipe.train.compile or epoch != first:
        return set()
    return {0, steps - 1} if s.data.size("train") % s.batch_size else {0}


def epoch_record(s: Session, epoch: int, losses: Any, timer: EpochTimer, samples: int) -> dict:
    """The epoch's line: mean train loss over every rank, lr, timing, and rank 0's val metrics."""
    record = {"epoch": epoch, "train.loss": s.dist.mean(losses.mean()).item(), "lr": lr_of(s),
              **timer.record(samples, s.flops_per_sample, s.peak_flops)}
    if s.data.size("val") and s.dist.main:
        record.update({f"val.{k}": v for k, v in s.evaluate("val").items() if not isinstance(v, list)})
    return s.dist.broadcast(record)


def batch(s: Session, perm: Any, i: int) -> tuple[Any, Any]:
    """Global batch i of the permutation, this rank's shard, gathered on the device (and augmented)."""
    idx = s.dist.shard(perm[i * s.batch_size:(i + 1) * s.batch_size])
    xb, yb = s.data.x["train"][idx], s.data.y["train"][idx]  # a gather keeps channels_last
    if s.augment is not None:
        xb, yb = s.augment(xb, yb, s.gen)
    return xb, yb


def fit(s: Session, state: LoopState, on_step: Optional[Callable[[int, int, float], None]],
        on_epoch: Callable[[dict, LoopState], bool]) -> LoopState:
    """Train from state.epoch + 1 to the recipe's epochs; on_epoch returns True to stop early.
    on_step (progress display), when given, gets (steps done, steps, latest loss)."""
    import torch

    n, steps, first = s.data.size("train"), steps_per_epoch(s), state.epoch + 1
    # each check is a host sync: every step would stall a GPU, and the buffer names the step anyway
    every = max(1, min(25, steps // 20)) if on_step is not None and s.device.type == "cpu" else 100
    for epoch in range(first, s.resolved.recipe.train.epochs + 1):
        s.net.train()
        timer = EpochTimer(s.device, warm_steps(s, epoch, first, steps))
        perm = torch.randperm(n, generator=s.gen, device=s.device)
        losses, checked = torch.zeros(steps, device=s.device), 0
        for i in range(steps):
            xb, yb = batch(s, perm, i)
            timer.before(i)
            losses[i] = s.task.train_step(s.train_net, xb, yb, s.loss_fn, s.stepper)
            timer.after(i, min(s.batch_size, n - i * s.batch_size))
            if (i + 1) % every == 0 or i + 1 == steps:
                check_finite(losses[checked:i + 1], epoch, checked + 1)
                checked = i + 1
                if on_step is not None:
                    on_step(i + 1, steps, losses[i].item())
        state.step += steps
        record = epoch_record(s, epoch, losses, timer, min(n, steps * s.batch_size))
        step_schedule(s, record)
        state.epoch = epoch
        if on_epoch(record, state):
            break
    return state
