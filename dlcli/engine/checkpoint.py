"""Checkpoints, written atomically: `best.safetensors` (the weights eval and export use) and
`last.state.safetensors`, ONE file holding the weights with every role's optimizer and schedule,
the task's own state, the RNG and the loop state, so a kill at any moment leaves a state that
resumes exactly.

State format 2 keys its optimizers and schedules by role; format 1 (no `format` key, written
before tasks had roles) held one `optimizer` and one `scheduler` and still loads into a task
with one role.

Nothing goes through pickle: both are safetensors, the state's non-tensor parts as JSON in its
metadata (see statefile.py).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from dlcli.engine import statefile
from dlcli.errors import UsageError
from dlcli.fsio import write_atomic


def weights_path(run: Path, tag: str) -> Path:
    return Path(run) / "checkpoints" / f"{tag}.safetensors"


def state_path(run: Path, tag: str) -> Path:
    return Path(run) / "checkpoints" / f"{tag}.state.safetensors"


def weights_blob(model: Any, epoch: int | str = "") -> bytes:
    """The model's weights as safetensors bytes (a snapshot: later steps do not change it)."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    return statefile.safetensors_bytes(tensors, {"epoch": str(epoch)})


def save(run: Path, model: Any, state: dict, best: bool, writer: Any = None) -> None:
    """The best weights when `best`, then the last training state (weights included). With a
    BackgroundWriter the disk work happens off the training thread, in this order, so the best
    file on disk is never older than the last state."""
    write = writer.write if writer is not None else write_atomic
    if best:
        write(weights_path(run, "best"), weights_blob(model, state.get("epoch", "")))
    write(state_path(run, "last"), statefile.pack(state))


def remove_partial_writes(run: Path) -> None:
    """Temp files of writes that a kill cut short (write_atomic cleans up after any other end)."""
    for tmp in (Path(run) / "checkpoints").glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


DAMAGED_WEIGHTS = "the run's record (run.json, metrics.jsonl) is intact; train the recipe again for new weights"


def load_weights(run: Path, tag: str, model: Any, still: str = DAMAGED_WEIGHTS) -> None:
    """Load `tag`'s weights into `model`; exit 2 naming the file when it is missing, damaged or
    made for another network (a short list of what differs, never torch's full dump)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = weights_path(run, tag)
    if not path.is_file():
        raise UsageError(f"{run} has no {tag} checkpoint ({path} is missing): train it first")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise UsageError(f"{path} is damaged (not a complete safetensors file: {e}); {still}") from None
    load_into(model, tensors, path, still)


def load_into(model: Any, tensors: dict, path: Path, still: str) -> None:
    """model.load_state_dict(tensors), after checking every name and shape agrees."""
    problems = mismatches(tensors, model.state_dict())
    if problems:
        raise UsageError(f"{path} does not fit the network of the recipe ({summary(problems)}); {still}")
    model.load_state_dict(tensors)


def mismatches(saved: dict, wanted: dict) -> list[str]:
    """What keeps `saved` from loading into a module whose state_dict is `wanted`, one item each."""
    out = [f"{k} is missing" for k in wanted if k not in saved]
    out += [f"{k} is not in the network" for k in saved if k not in wanted]
    for k in (k for k in wanted if k in saved):
        have, want = tuple(getattr(saved[k], "shape", ())), tuple(wanted[k].shape)
        if have != want:
            out.append(f"{k} is {list(have)} in the file, {list(want)} in the network")
    return out


def summary(problems: list[str], first: int = 3) -> str:
    more = len(problems) - first
    return "; ".join(problems[:first]) + (f"; and {more} more" if more > 0 else "")


def load_state(run: Path, tag: str) -> dict:
    """The training state saved at `tag`; exit 2 naming the file when it is missing or damaged."""
    from safetensors import SafetensorError

    path = state_path(run, tag)
    if not path.is_file():
        raise UsageError(f"{run} has no {tag} training state ({path} is missing): it cannot be resumed")
    try:
        state = statefile.unpack(path)
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as e:
        raise UsageError(f"{path} is damaged (not a training state dlcli wrote: {type(e).__name__}: {e}); "
                         f"{DAMAGED_STATE}") from None
    state = upgraded(state)
    missing = [k for k in ("epoch", "loop", "model", "optimizers", "schedulers", "rng") if k not in state]
    if missing:
        raise UsageError(f"{path} is damaged (no {', '.join(missing)} in it); {DAMAGED_STATE}")
    return state


DAMAGED_STATE = ("the best checkpoint is separate: `dlcli eval` and `dlcli export` still work; delete this file to "
                 "train the run again from epoch 1 on its saved split")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


FORMAT = 2


def upgraded(state: dict) -> dict:
    """A format-1 state (one optimizer, one scheduler) in format 2's shape, under the role `None`
    that restore() gives to a task's only role."""
    if "format" in state or "optimizer" not in state:
        return state
    rest = {k: v for k, v in state.items() if k not in ("optimizer", "scheduler")}
    return {**rest, "format": 1, "optimizers": {None: state["optimizer"]}, "schedulers": {None: state.get("scheduler")},
            "task": {}}


def training_state(fit: Any, loop: Any) -> dict:
    """Everything a resume needs, packed right away (later steps do not change it)."""
    from dataclasses import asdict

    from dlcli.engine.seed import rng_state

    model = {k: v.detach().to("cpu") for k, v in fit.model.state_dict().items()}
    return {"format": FORMAT, "epoch": loop.epoch, "loop": asdict(loop), "model": model,
            "optimizers": {role: r.optimizer.state_dict() for role, r in fit.roles.items()},
            "schedulers": {role: r.scheduler.state_dict() for role, r in fit.roles.items()},
            "role_steps": {role: r.steps for role, r in fit.roles.items()},
            "task": fit.task.state_dict(), "rng": rng_state(fit.gen)}


def restore_into(fit: Any, saved: dict, path: Path) -> None:
    """Put a saved state's weights, optimizers, schedules, task state and RNG back into `fit`;
    exit 2 naming the file and its format when it does not fit."""
    from dlcli.engine.seed import restore_rng

    load_into(fit.model, saved["model"], path, DAMAGED_STATE)
    optimizers, schedulers = saved["optimizers"], saved["schedulers"]
    if None in optimizers and len(fit.roles) == 1:  # format 1: the only role
        role = next(iter(fit.roles))
        optimizers, schedulers = {role: optimizers[None]}, {role: schedulers[None]}
    if set(optimizers) != set(fit.roles):
        raise UsageError(f"{path} (state format {saved.get('format', 1)}) holds optimizers for "
                         f"{', '.join(map(str, sorted(optimizers, key=str)))}, the task has {', '.join(fit.roles)}; "
                         f"{DAMAGED_STATE}")
    for role, r in fit.roles.items():
        r.optimizer.load_state_dict(optimizers[role])
        r.scheduler.load_state_dict(schedulers[role])
        r.steps = int(saved.get("role_steps", {}).get(role, 0))
    fit.task.load_state_dict(saved.get("task") or {})
    restore_rng(saved["rng"], fit.gen)
