"""Checkpoints, written atomically: `best.safetensors` (the weights eval and export use) and
`last.state.safetensors`, ONE file holding the weights with the optimizer, schedule, RNG and
loop state, so a kill at any moment leaves a state that resumes exactly.

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
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    return save(tensors, metadata={"epoch": str(epoch)})


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
    missing = [k for k in ("epoch", "loop", "model", "optimizer", "scheduler", "rng") if k not in state]
    if missing:
        raise UsageError(f"{path} is damaged (no {', '.join(missing)} in it); {DAMAGED_STATE}")
    return state


DAMAGED_STATE = ("the best checkpoint is separate: `dlcli eval` and `dlcli export` still work; delete this file to "
                 "train the run again from epoch 1 on its saved split")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
