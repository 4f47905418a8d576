"""Speed settings applied to a built session: channels_last, torch.compile, DDP wrapping.

Training goes through `Fit.train_nets` (possibly compiled, possibly DDP-wrapped); evaluation,
checkpoints and export keep using the plain `Fit.nets`, which share their parameters.
"""
from __future__ import annotations

from typing import Any


def wants_channels_last(setting: Any, device: Any, net: Any, input_shape: tuple) -> bool:
    """channels_last pays off for 2-D convolutions on tensor cores; the CPU keeps NCHW by default."""
    from torch import nn

    if len(input_shape) != 3 or not any(isinstance(m, nn.Conv2d) for m in net.modules()):
        return False
    return device.type == "cuda" if setting is None else bool(setting)


def apply_channels_last(s: Any) -> None:
    import torch

    s.model.to(memory_format=torch.channels_last)
    for split, x in s.data.x.items():
        if x.ndim == 4:
            s.data.x[split] = x.contiguous(memory_format=torch.channels_last)


def training_module(s: Any, net: Any) -> Any:
    """The module train steps call: DDP around the net when distributed, then torch.compile."""
    import torch

    net = s.dist.wrap(net, s.device) if s.dist.active else net
    # dynamic=False: one graph per batch shape (full and last), no re-tracing as shapes vary
    return torch.compile(net, dynamic=False) if s.resolved.recipe.train.compile else net
