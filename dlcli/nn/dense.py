"""Fully connected and shape-only layers: linear, flatten, dropout, reshape, embedding, select."""
from __future__ import annotations

import math
from typing import Literal, Optional, Union

from pydantic import Field

from dlcli.nn.base import Args, Layer, ShapeError, fmt, layers, one_tensor
from dlcli.nn.init import InitField, InitName


class LinearArgs(Args):
    out: Union[int, Literal["auto"]] = Field(description="output features; auto = classes or targets")
    bias: bool = True
    init: InitName = InitField


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


class DropoutArgs(Args):
    p: float = Field(0.5, ge=0.0, lt=1.0, description="probability of zeroing an element while training")


@layers.register("dropout")
class Dropout(Layer):
    """Zero each element with probability p while training (scaled by 1/(1-p)); shape unchanged."""

    Args = DropoutArgs
    main = "p"

    def shape(self, a, s, ctx):
        return one_tensor("dropout", s)

    def build(self, node, ctx):
        from torch import nn

        return nn.Dropout(node.args.p)


class ReshapeArgs(Args):
    shape: list[int] = Field(min_length=1, description="per-sample target shape; one entry may be -1")


@layers.register("reshape")
class Reshape(Layer):
    """Reshape each sample to `shape` (no batch axis; one -1 is inferred): (64,) -> (4, 4, 4)."""

    Args = ReshapeArgs
    main = "shape"

    def shape(self, a, s, ctx):
        s = one_tensor("reshape", s)
        if None in s:
            raise ShapeError(f"reshape needs fixed axes but gets {fmt(s)}")
        target = list(a.shape)
        bad = [d for d in target if d < 1 and d != -1]
        if bad or target.count(-1) > 1:
            raise ShapeError(f"reshape target {target} must hold positive sizes and at most one -1")
        return infer_reshape("reshape", s, target)

    def build(self, node, ctx):
        from dlcli.nn._torch_modules import Reshape as ReshapeModule

        return ReshapeModule(node.out_shape)


def infer_reshape(name: str, s: tuple, target: list[int]) -> tuple:
    """`target` with its -1 filled so that it holds as many elements as `s`."""
    total, known = math.prod(s), math.prod(d for d in target if d != -1)
    if -1 in target:
        if total % known:
            raise ShapeError(f"{name} cannot fit {fmt(s)} ({total} elements) into {target}: {total} is not a multiple of {known}")
        target = [total // known if d == -1 else d for d in target]
    elif known != total:
        raise ShapeError(f"{name} cannot turn {fmt(s)} ({total} elements) into {fmt(tuple(target))} ({known} elements)")
    return tuple(target)


class EmbeddingArgs(Args):
    vocab: Optional[int] = Field(None, ge=1, description="number of distinct token ids (ids are 0 .. vocab-1); "
                                 "default: the data's vocabulary")
    dim: int = Field(ge=1, description="size of each embedding vector")
    init: InitName = InitField


@layers.register("embedding")
class Embedding(Layer):
    """Look up a learned vector per integer token id: (T,) ids -> (T, dim); vocab defaults to the data's."""

    Args = EmbeddingArgs
    has_weights = True

    def shape(self, a, s, ctx):
        s = one_tensor("embedding", s)
        # the node keeps these args: resolving here hands the builder the size, whatever builds it
        a.vocab = token_vocab(a.vocab, ctx, "embedding", "`embedding: {vocab: N, dim: D}`")
        return (*s, a.dim)

    def build(self, node, ctx):
        from dlcli.nn._torch_modules import Embedding as EmbeddingModule

        return EmbeddingModule(node.args.vocab, node.args.dim)


def token_vocab(vocab: Optional[int], ctx, name: str, example: str) -> int:
    """The number of token ids layer `name` looks up: its own `vocab`, else the data's."""
    if vocab is None and ctx.vocab is None:
        raise ShapeError(f"{name} needs `vocab` (the number of token ids): this data has no vocabulary of its own, "
                         f"so write {example}")
    if vocab is None:
        return ctx.vocab
    if ctx.vocab is not None and vocab < ctx.vocab:
        raise ShapeError(f"{name} has vocab {vocab} but this data's token ids run to {ctx.vocab - 1} (a vocabulary "
                         f"of {ctx.vocab}): raise vocab to at least {ctx.vocab}, or leave it out to take the data's")
    return vocab


class SelectArgs(Args):
    index: int = Field(description="which output to keep (0-based; negative counts from the end)")


@layers.register("select")
class Select(Layer):
    """Keep one output of a layer that gives several: [(T, H), (H,)] -> (H,) with `select: 1`."""

    Args = SelectArgs
    main = "index"

    def shape(self, a, s, ctx):
        if not isinstance(s, list):
            raise ShapeError(f"select picks one of several outputs but gets one tensor {fmt(s)}; remove it")
        if not -len(s) <= a.index < len(s):
            raise ShapeError(f"select index {a.index} is out of range for {len(s)} outputs {fmt(s)}")
        return s[a.index]

    def build(self, node, ctx):
        from dlcli.nn._torch_modules import Select as SelectModule

        return SelectModule(node.args.index)
