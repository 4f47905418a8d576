"""The saved model: the train-split normalisation as buffers, then every network of the task.

Keeping normalisation inside the module means eval, export and predict all take raw inputs, give
outputs in the data's own units, and can never disagree with training about preprocessing. Its
state_dict is what a checkpoint holds: `shift`, `scale` (and `y_shift`, `y_scale` for
standardised targets), then `<network>.<parameter>` for each network.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np


def make_bundle(nets: dict, shift: np.ndarray, scale: np.ndarray, y_shift: Any = None, y_scale: Any = None,
                reshape: Optional[tuple] = None) -> Any:
    """`reshape` is (input shape, raw shape) per sample when raw inputs come in another shape than
    the networks take, like digits' 64 pixels for (1, 8, 8) images."""
    import torch
    from torch import nn

    class Bundle(nn.Module):
        """raw x -> reshape -> (x - shift) / scale -> networks; `forward` is the supervised path:
        net, then out * y_scale + y_shift for standardised targets."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("shift", torch.as_tensor(np.asarray(shift, np.float32)))
            self.register_buffer("scale", torch.as_tensor(np.asarray(scale, np.float32)))
            for name, net in nets.items():
                self.add_module(name, net)
            self.names = list(nets)
            self.unscale = y_shift is not None
            if self.unscale:
                self.register_buffer("y_shift", torch.as_tensor(np.asarray(y_shift, np.float32)))
                self.register_buffer("y_scale", torch.as_tensor(np.asarray(y_scale, np.float32)))

        @property
        def networks(self) -> dict:
            return {name: getattr(self, name) for name in self.names}

        def normalize(self, x):  # (B, *raw_shape) -> (B, *input_shape)
            if reshape is not None:
                x = x.reshape(-1, *reshape[0])
            if x.dtype == torch.uint8:  # raw 8-bit images
                x = x.float()
            if x.is_floating_point():
                x = (x - self.shift) / self.scale
            return x

        def denormalize(self, x):  # (B, *input_shape) -> (B, *raw_shape), in the data's units
            x = x * self.scale + self.shift
            return x.reshape(-1, *reshape[1]) if reshape is not None else x

        def forward(self, x):  # (B, *raw_shape)
            out = self.net(self.normalize(x))
            return out * self.y_scale + self.y_shift if self.unscale else out

    return Bundle()
