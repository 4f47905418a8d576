"""Convolution and pooling on channels-first samples: (C, L) and (C, H, W)."""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field, model_validator

from dlcli.nn.base import Args, Layer, ShapeError, fmt, layers, one_tensor
from dlcli.nn.init import InitField, InitName


def conv_size(size: Optional[int], kernel: int, stride: int, padding: int, dilation: int = 1) -> Optional[int]:
    """Output length of a convolution or pooling window along one axis (None stays dynamic)."""
    if size is None:
        return None
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def spatial_out(name: str, s: tuple, channels: int, sizes: list) -> tuple:
    """(channels, *sizes), or a ShapeError when a window no longer fits the input."""
    out = (channels, *sizes)
    if any(d is not None and d < 1 for d in sizes):
        raise ShapeError(f"{name} window does not fit input {fmt(s)}: the output would be {fmt(out)}")
    return out


class ConvArgs(Args):
    out: int = Field(ge=1, description="output channels")
    kernel: int = Field(3, ge=1)
    stride: int = Field(1, ge=1)
    padding: Union[int, Literal["same"]] = Field(0, description="zeros added on each side, or `same` (stride 1)")
    dilation: int = Field(1, ge=1)
    groups: int = Field(1, ge=1, description="input and output channels split into this many groups")
    bias: bool = True
    init: InitName = InitField

    @model_validator(mode="after")
    def _check(self):
        if self.padding == "same" and self.stride != 1:
            raise ValueError("padding 'same' needs stride 1; give the padding as a number")
        if isinstance(self.padding, int) and self.padding < 0:
            raise ValueError(f"padding must be >= 0, got {self.padding}")
        if self.out % self.groups:
            raise ValueError(f"out ({self.out}) must be a multiple of groups ({self.groups})")
        return self


class _Conv(Layer):
    """Shared by conv1d and conv2d, which differ only in the number of spatial axes."""

    Args = ConvArgs
    main = "out"
    has_weights = True
    name: str
    spatial: int

    def shape(self, a, s, ctx):
        s = one_tensor(self.name, s, self.spatial + 1, f"(C, {'L' if self.spatial == 1 else 'H, W'})")
        if s[0] is None or s[0] % a.groups:
            raise ShapeError(f"{self.name} needs input channels that are known and a multiple of groups ({a.groups}), gets {fmt(s)}")
        if a.padding == "same":
            return (a.out, *s[1:])
        sizes = [conv_size(d, a.kernel, a.stride, a.padding, a.dilation) for d in s[1:]]
        return spatial_out(self.name, s, a.out, sizes)

    def build(self, node, ctx):
        from torch import nn

        a = node.args
        cls = nn.Conv1d if self.spatial == 1 else nn.Conv2d
        return cls(node.in_shape[0], a.out, a.kernel, stride=a.stride, padding=a.padding,
                   dilation=a.dilation, groups=a.groups, bias=a.bias)


@layers.register("conv1d")
class Conv1d(_Conv):
    """1-D convolution over the length axis: (C, L) -> (out, L')."""

    name, spatial = "conv1d", 1


@layers.register("conv2d")
class Conv2d(_Conv):
    """2-D convolution over height and width: (C, H, W) -> (out, H', W')."""

    name, spatial = "conv2d", 2


class PoolArgs(Args):
    kernel: int = Field(ge=1, description="window size")
    stride: Optional[int] = Field(None, ge=1, description="default: the kernel size")
    padding: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self):
        if 2 * self.padding > self.kernel:
            raise ValueError(f"padding ({self.padding}) must be at most half the kernel ({self.kernel})")
        return self


class _Pool(Layer):
    """Shared by maxpool and avgpool: the dimension (1-D or 2-D) follows the input."""

    Args = PoolArgs
    main = "kernel"
    name: str

    def shape(self, a, s, ctx):
        s = one_tensor(self.name, s, (2, 3), "(C, L) or (C, H, W)")
        stride = a.stride or a.kernel
        sizes = [conv_size(d, a.kernel, stride, a.padding) for d in s[1:]]
        return spatial_out(self.name, s, s[0], sizes)

    def build(self, node, ctx):
        from torch import nn

        a = node.args
        one_d = len(node.in_shape) == 2
        if self.name == "maxpool":
            cls = nn.MaxPool1d if one_d else nn.MaxPool2d
        else:
            cls = nn.AvgPool1d if one_d else nn.AvgPool2d
        return cls(a.kernel, stride=a.stride or a.kernel, padding=a.padding)


@layers.register("maxpool")
class MaxPool(_Pool):
    """Maximum over windows of `kernel` (stride = kernel by default): (C, H, W) -> (C, H', W'), or 1-D on (C, L)."""

    name = "maxpool"


@layers.register("avgpool")
class AvgPool(_Pool):
    """Mean over windows of `kernel` (stride = kernel by default): (C, H, W) -> (C, H', W'), or 1-D on (C, L)."""

    name = "avgpool"


@layers.register("global_avgpool")
class GlobalAvgPool(Layer):
    """Mean over every axis after the channels: (C, L) or (C, H, W) -> (C,)."""

    def shape(self, a, s, ctx):
        s = one_tensor("global_avgpool", s)
        if len(s) < 2:
            raise ShapeError(f"global_avgpool needs input (C, ...) with at least one axis after the channels but gets {fmt(s)}")
        return s[:1]

    def build(self, node, ctx):
        from dlcli.nn._torch_modules import GlobalAvgPool as GlobalAvgPoolModule

        return GlobalAvgPoolModule()
