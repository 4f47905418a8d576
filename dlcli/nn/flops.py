"""FLOPs per training sample of a network, counted without running it.

Counted once per run with torch.utils.flop_counter on one forward and backward pass on meta
tensors, under a forked RNG, so counting costs no memory and never changes the run's results.
Tasks count their networks with it (Task.flops_per_sample); the engine turns the count into MFU.
"""
from __future__ import annotations

from typing import Any, Optional


def flops_per_sample(net: Any, xb: Any, yb: Any, loss_fn: Any) -> Optional[float]:
    """Training FLOPs (forward + backward) per sample of `net` on one batch's shapes. It runs on
    meta tensors standing in for the parameters and data: no copy of the model, no real
    arithmetic, and `net` itself is left untouched."""
    import torch
    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode

    meta = {k: torch.empty_like(v, device="meta").requires_grad_(v.requires_grad) for k, v in net.named_parameters()}
    meta.update({k: torch.empty_like(v, device="meta") for k, v in net.named_buffers()})
    devices = [xb.device.index or 0] if xb.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), FlopCounterMode(display=False) as counter:
            out = functional_call(net, meta, (xb.to("meta"),))
            loss_fn(out.float(), yb.to("meta")).backward()
    except Exception:  # noqa: BLE001  (an op the counter cannot trace: throughput is still reported)
        return None
    return counter.get_total_flops() / len(xb)
