"""Where and in what precision to run: `auto` picks cuda, then mps, then cpu."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable

from dlcli.errors import UsageError


def pick_device(spec: str = "auto") -> Any:
    import torch

    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise UsageError(f"unknown device '{spec}': use auto, cpu, cuda, cuda:N or mps") from None
    check_available(device, spec)
    return device


def check_available(device: Any, spec: str) -> None:
    """Refuse a device this machine lacks before anything runs on it (exit 2), saying what it has."""
    import torch

    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device '{spec}' asked for, but CUDA is not available here (try device: auto)")
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and device.index is not None and device.index >= count:
        have = "cuda:0" if count == 1 else f"cuda:0 .. cuda:{count - 1}"
        raise UsageError(f"device '{spec}' asked for, but this machine has {count} CUDA device"
                         f"{'s' if count != 1 else ''} ({have}); pick one of them or use device: cuda")
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and not (mps is not None and mps.is_available()):
        raise UsageError(f"device '{spec}' asked for, but MPS (Apple GPUs) is not available here (try device: auto)")


def autocast_dtype(device: Any, precision: str = "auto") -> Any:
    """The autocast dtype, or None for plain fp32: bf16 on CUDA where supported under `auto`."""
    import torch

    if precision == "fp32" or device.type != "cuda":
        if precision in ("bf16", "fp16") and device.type == "cpu":
            return torch.bfloat16 if precision == "bf16" else None
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def autocaster(device: Any, dtype: Any) -> Callable[[], Any]:
    import torch

    if dtype is None:
        return nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)
