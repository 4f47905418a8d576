"""Normalisation layers: batchnorm over the batch, layernorm over the features of each sample."""
from __future__ import annotations

from pydantic import Field

from dlcli.nn.base import Args, Layer, ShapeError, fmt, layers, one_tensor
from dlcli.nn.init import InitField, InitName


class BatchNormArgs(Args):
    momentum: float = Field(0.1, gt=0.0, le=1.0, description="weight of the newest batch in the running statistics")
    eps: float = Field(1e-5, gt=0.0)
    init: InitName = InitField


@layers.register("batchnorm")
class BatchNorm(Layer):
    """Normalise each channel over the batch (and length/space): (F,), (C, L) or (C, H, W), shape unchanged."""

    Args = BatchNormArgs
    has_weights = True

    def shape(self, a, s, ctx):
        s = one_tensor("batchnorm", s, (1, 2, 3), "(F,), (C, L) or (C, H, W)")
        if s[0] is None:
            raise ShapeError(f"batchnorm needs a known channel axis but gets {fmt(s)}")
        return s

    def build(self, node, ctx):
        from torch import nn

        cls = nn.BatchNorm2d if len(node.in_shape) == 3 else nn.BatchNorm1d
        return cls(node.in_shape[0], eps=node.args.eps, momentum=node.args.momentum)


class LayerNormArgs(Args):
    eps: float = Field(1e-5, gt=0.0)
    init: InitName = InitField


@layers.register("layernorm")
class LayerNorm(Layer):
    """Normalise the last axis of each sample to zero mean and unit variance, then scale and shift; shape unchanged."""

    Args = LayerNormArgs
    has_weights = True

    def shape(self, a, s, ctx):
        s = one_tensor("layernorm", s)
        if not s or s[-1] is None:
            raise ShapeError(f"layernorm needs a known last axis but gets {fmt(s)}")
        return s

    def build(self, node, ctx):
        from torch import nn

        return nn.LayerNorm(node.in_shape[-1], eps=node.args.eps)
