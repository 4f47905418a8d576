"""The training loop: one readable function, the same for every task."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from dlcli.engine.fit import Fit
from dlcli.engine.throughput import EpochTimer
from dlcli.errors import RunFailed


class Diverged(RunFailed):
    """A loss became NaN or infinite."""


class StopTraining(Exception):
    """Raised by a callback to end a run early on purpose (a pruned search trial);
    `status` goes into run.json."""

    def __init__(self, reason: str, status: str = "stopped"):
        super().__init__(reason)
        self.status = status


@dataclass
class LoopState:
    epoch: int = 0  # epochs completed
    step: int = 0  # batches trained on
    best: Optional[float] = None
    best_epoch: int = 0
    stale: int = 0  # epochs since the monitored metric last improved
    stop_reason: str = "completed"
    improved: bool = False  # the last epoch improved the monitored metric


class StepLog:
    """Each named scalar of every step of an epoch, kept on the device: a host sync per step
    would stall a GPU, and the step is still named when a loss turns non-finite. A step's scalars
    wait in a list until the next check, which stacks them (one op per name, where a write per
    name per step costs more than a small network's step); a task may leave a name out of a step."""

    def __init__(self, steps: int, device: Any):
        self.steps, self.device, self.values, self.pending = steps, device, {}, []

    def put(self, i: int, scalars: dict) -> None:
        self.pending.append((i, scalars))

    def check(self, epoch: int) -> None:
        """Move the waiting scalars into the buffer; raise Diverged naming the first non-finite one."""
        import torch

        for name in dict.fromkeys(name for _, scalars in self.pending for name in scalars):
            rows = [(i, s[name]) for i, s in self.pending if name in s]
            values = torch.stack([(v if v.ndim == 0 else v.reshape(())) if isinstance(v, torch.Tensor)
                                  else torch.tensor(float(v), device=self.device) for _, v in rows])
            bad = ~torch.isfinite(values)
            if bad.any():
                i, what = int(bad.nonzero()[0, 0]), "the loss" if name == "loss" else f"the {name}"
                raise Diverged(f"{what} became {values[i].item()} at epoch {epoch}, step {rows[i][0] + 1}")
            if name not in self.values:
                self.values[name] = torch.full((self.steps,), float("nan"), device=self.device)
            self.values[name][torch.tensor([i for i, _ in rows], device=self.device)] = values.float()
        self.pending = []

    def latest(self, i: int) -> dict:
        """The scalars step i reported (checked already)."""
        return {name: x for name, x in ((name, v[i].item()) for name, v in self.values.items()) if x == x}

    def means(self, dist: Any) -> dict:
        """Each scalar's mean over the steps that reported it."""
        return {f"train.{name}": dist.mean(v.nanmean()).item() for name, v in self.values.items()}


def step_schedules(f: Fit, record: dict) -> None:
    """Epoch-level schedules advance here; plateau reads its monitored metric."""
    for r in f.roles.values():
        if r.schedule.per_step:
            continue
        monitor = getattr(r.schedule_args, "monitor", None)
        if monitor:
            r.scheduler.step(record.get(monitor, record.get("train.loss")))
        else:
            r.scheduler.step()


def warm_steps(f: Fit, epoch: int, first: int, steps: int) -> set:
    """Steps a compile spends compiling: the first one run, and a short last batch (a new shape)."""
    if not f.resolved.recipe.train.compile or epoch != first:
        return set()
    return {0, steps - 1} if f.data.size("train") % f.batch_size else {0}


def epoch_record(f: Fit, epoch: int, log: StepLog, timer: EpochTimer, samples: int) -> dict:
    """The epoch's line: mean train scalars over every rank, lr, timing, and rank 0's val metrics."""
    record = {"epoch": epoch, **log.means(f.dist), **f.lr(), **timer.record(samples, f.flops_per_sample, f.peak_flops)}
    if f.data.size("val") and f.dist.main:
        record.update({f"val.{k}": v for k, v in f.evaluate("val").items() if not isinstance(v, list)})
    return f.dist.broadcast(record)


def fit(f: Fit, state: LoopState, callbacks: Any, progress: bool = False) -> LoopState:
    """Train from state.epoch + 1 to the recipe's epochs; a callback's on_epoch_end returning True
    stops early. `progress`: a live display wants on_step more often than the finite checks need."""
    first = state.epoch + 1
    callbacks.fit_start(f, state)
    for epoch in range(first, f.resolved.recipe.train.epochs + 1):
        f.train_mode()
        batches = f.task.batches(f.data, f)
        steps = len(batches)
        # each check is a host sync: every step would stall a GPU
        every = max(1, min(25, steps // 20)) if progress and f.device.type == "cpu" else 100
        timer, log, samples = EpochTimer(f.device, warm_steps(f, epoch, first, steps)), StepLog(steps, f.device), 0
        for i, batch in enumerate(batches):
            timer.before(i)
            log.put(i, f.task.train_step(batch, f))
            samples += batches.samples(i)
            timer.after(i, batches.samples(i))
            if (i + 1) % every == 0 or i + 1 == steps:
                log.check(epoch)
                callbacks.step(f, state, i + 1, steps, log.latest(i))
        state.step += steps
        record = epoch_record(f, epoch, log, timer, samples)
        step_schedules(f, record)
        state.epoch = epoch
        if callbacks.epoch_end(f, record, state):
            break
    callbacks.fit_end(f, state)
    return state
