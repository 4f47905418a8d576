"""The saved model: the train-split normalisation as buffers, then the network.

Keeping normalisation inside the module means eval, export and predict all take raw inputs, give
outputs in the targets' own units, and can never disagree with training about preprocessing.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def make_pipeline(net: Any, shift: np.ndarray, scale: np.ndarray, y_shift: Any = None, y_scale: Any = None,
                  input_shape: Any = None) -> Any:
    """`input_shape` (per sample) is given when raw inputs come flat, like digits' 64 pixels."""
    import torch
    from torch import nn

    class Pipeline(nn.Module):
        """raw x -> reshape -> (x - shift) / scale -> net -> out * y_scale + y_shift (regression)."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("shift", torch.as_tensor(np.asarray(shift, np.float32)))
            self.register_buffer("scale", torch.as_tensor(np.asarray(scale, np.float32)))
            self.net = net
            self.unscale = y_shift is not None
            if self.unscale:
                self.register_buffer("y_shift", torch.as_tensor(np.asarray(y_shift, np.float32)))
                self.register_buffer("y_scale", torch.as_tensor(np.asarray(y_scale, np.float32)))

        def forward(self, x):  # (B, *raw_shape)
            if input_shape is not None:
                x = x.reshape(-1, *input_shape)  # (B, *input_shape)
            if x.dtype == torch.uint8:  # raw 8-bit images
                x = x.float()
            if x.is_floating_point():
                x = (x - self.shift) / self.scale
            out = self.net(x)
            return out * self.y_scale + self.y_shift if self.unscale else out

    return Pipeline()
