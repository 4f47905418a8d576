"""Checkpoints: safetensors weights plus a training-state file, both written atomically.

Nothing goes through pickle: weights are safetensors, and so is the state (optimizer, schedule,
RNG, counters), with its non-tensor parts as JSON (see statefile.py).
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


def save(run: Path, tags: tuple[str, ...], model: Any, state: dict | None = None, writer: Any = None) -> None:
    """Write the weights under each tag, and the training state beside the first. With a
    BackgroundWriter the disk work happens off the training thread."""
    blob = weights_blob(model, (state or {}).get("epoch", ""))
    write = writer.write if writer is not None else write_atomic
    if state is not None:
        write(state_path(run, tags[0]), statefile.pack(state))
    for tag in tags:
        write(weights_path(run, tag), blob)


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
