"""Checkpoints: safetensors weights plus a training-state file, both written atomically.

Weights never go through pickle; the state (optimizer, schedule, RNG, counters) is loaded with
torch.load(weights_only=True), which refuses arbitrary objects.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from dlcli.errors import UsageError
from dlcli.fsio import write_atomic


def weights_path(run: Path, tag: str) -> Path:
    return Path(run) / "checkpoints" / f"{tag}.safetensors"


def state_path(run: Path, tag: str) -> Path:
    return Path(run) / "checkpoints" / f"{tag}.state.pt"


def weights_blob(model: Any, epoch: int | str = "") -> bytes:
    """The model's weights as safetensors bytes (a snapshot: later steps do not change it)."""
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    return save(tensors, metadata={"epoch": str(epoch)})


def state_blob(state: dict) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def save(run: Path, tags: tuple[str, ...], model: Any, state: dict | None = None, writer: Any = None) -> str:
    """Write the weights under each tag, and the training state beside the first; return the
    sha256 of the weights. With a BackgroundWriter the disk work happens off the training thread."""
    blob = weights_blob(model, (state or {}).get("epoch", ""))
    write = writer.write if writer is not None else write_atomic
    if state is not None:
        write(state_path(run, tags[0]), state_blob(state))
    for tag in tags:
        write(weights_path(run, tag), blob)
    return hashlib.sha256(blob).hexdigest()


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
    import torch

    path = state_path(run, tag)
    if not path.is_file():
        raise UsageError(f"{run} has no {tag} training state ({path} is missing): it cannot be resumed")
    return torch.load(path, map_location="cpu", weights_only=True)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
