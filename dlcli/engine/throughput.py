"""Samples per second and model FLOPs utilisation (MFU).

MFU is achieved FLOP/s over the device's dense bf16 peak, reported on CUDA devices whose peak is
known; the FLOPs per sample are the task's to count (dlcli/nn/flops.py counts a network's).
"""
from __future__ import annotations

import time
from typing import Any, Optional

# Dense bf16 tensor-core peaks (FLOP/s), from the vendors' data sheets (no sparsity).
BF16_PEAK = {
    "H200": 989e12, "H100 SXM": 989e12, "H100 80GB HBM3": 989e12, "H100 NVL": 835e12, "H100 PCIe": 756e12,
    "H100": 756e12, "GH200": 989e12, "B200": 2250e12, "A100": 312e12, "A800": 312e12, "L40S": 362e12,
    "L40": 181e12, "L4": 121e12, "A10": 125e12, "RTX 4090": 165e12, "RTX 3090": 71e12,
}


def bf16_peak(device: Any) -> Optional[float]:
    """The device's dense bf16 peak, by the longest table name in its marketing name; None if unknown."""
    import torch

    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    matches = [k for k in BF16_PEAK if k in name]
    return BF16_PEAK[max(matches, key=len)] if matches else None


class EpochTimer:
    """Wall time of an epoch with some steps (a compile's warm-up) timed apart and left out."""

    def __init__(self, device: Any, warm_steps: set):
        self.device, self.warm_steps = device, warm_steps
        self.warm_seconds, self.warm_samples, self._mark = 0.0, 0, 0.0
        self.started = self.now()

    def now(self) -> float:
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def before(self, i: int) -> None:
        if i in self.warm_steps:
            self._mark = self.now()

    def after(self, i: int, samples: int) -> None:
        if i in self.warm_steps:
            self.warm_seconds += self.now() - self._mark
            self.warm_samples += samples

    def record(self, samples: int, flops: Optional[float], peak: Optional[float]) -> dict:
        """seconds, samples_per_s (warm-up excluded) and, when known, warmup_seconds and mfu."""
        seconds = time.perf_counter() - self.started  # the loop's last finiteness check has synced
        rate = (samples - self.warm_samples) / max(seconds - self.warm_seconds, 1e-9)
        out = {"seconds": round(seconds, 4), "samples_per_s": round(rate, 1)}
        if self.warm_seconds:
            out["warmup_seconds"] = round(self.warm_seconds, 3)
        if flops and peak:
            out["mfu"] = round(flops * rate / peak, 4)
        return out
