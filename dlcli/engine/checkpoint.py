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


def load_weights(run: Path, tag: str, model: Any) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = weights_path(run, tag)
    if not path.is_file():
        raise UsageError(f"{run} has no {tag} checkpoint ({path} is missing): train it first")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None
    model.load_state_dict(tensors)


def load_state(run: Path, tag: str) -> dict:
    from safetensors import SafetensorError

    path = state_path(run, tag)
    if not path.is_file():
        raise UsageError(f"{run} has no {tag} training state ({path} is missing): it cannot be resumed")
    try:
        return statefile.unpack(path)
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
