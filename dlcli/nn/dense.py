"""Fully connected and shape-only layers: linear, flatten, reshape, dropout, select."""
from __future__ import annotations

import math
from typing import Literal, Optional, Union

from pydantic import Field

from dlcli.nn.base import Args, Layer, ShapeError, fmt, layers, one_tensor


class LinearArgs(Args):
    out: Union[int, Literal["auto"]] = Field(description="output features; auto = classes or targets")
    bias: bool = True
    init: Optional[str] = None


@layers.register("linear")
class Linear(Layer):
    """Fully connected layer y = xW^T + b on the last axis; `linear: auto` sizes it to the task."""

    Args = LinearArgs
    main = "out"
    has_weights = True

    def shape(self, a, s, ctx):
        s = one_tensor("linear", s)
        if not s or s[-1] is None:
            raise ShapeError(f"linear needs a known last axis but gets {fmt(s)}; add `flatten` before it")
        return (*s[:-1], out_features(a.out, ctx))

    def build(self, node, ctx):
        from torch import nn

        return nn.Linear(node.in_shape[-1], node.out_shape[-1], bias=node.args.bias)


def out_features(out, ctx) -> int:
    if out != "auto":
        if out < 1:
            raise ShapeError(f"output size must be positive, got {out}")
        return out
    if ctx.outputs is None:
        raise ShapeError("`auto` needs the number of classes or targets, which this data does not give")
    return ctx.outputs


@layers.register("flatten")
class Flatten(Layer):
    """Flatten every axis after the batch into one: (C, H, W) -> (C*H*W,)."""

    def shape(self, a, s, ctx):
        s = one_tensor("flatten", s)
        if None in s:
            raise ShapeError(f"flatten needs fixed axes but gets {fmt(s)}")
        return (math.prod(s),)

    def build(self, node, ctx):
        from torch import nn

        return nn.Flatten()
