"""Blocks: layers that hold sub-networks (residual, parallel, repeat), planned like a model."""
from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from dlcli.nn.base import Args, Context, Layer, ShapeError, fmt, initializers, layers, one_tensor

# Layers whose rank-2 input is (C, L), channels first; without one, rank 2 is read as (T, F).
CHANNELS_FIRST = {"conv1d", "maxpool", "avgpool"}
PROBES = range(4096, 4104)  # stand-in lengths for dynamic axes when working out a projection's stride


def strides(s: tuple, out: tuple) -> int:
    """The stride of a 1x1 convolution mapping the spatial axes of `s` onto those of `out`."""
    pairs = list(zip(s[1:], out[1:]))
    if any(a is None or b is None for a, b in pairs):
        raise ShapeError(f"residual cannot project {fmt(s)} to {fmt(out)}: a dynamic spatial axis")
    stride = math.ceil(pairs[0][0] / pairs[0][1]) if pairs[0][1] else 0
    if stride < 1 or any((a - 1) // stride + 1 != b for a, b in pairs):
        raise ShapeError(f"residual cannot project {fmt(s)} to {fmt(out)} with a strided 1x1 convolution")
    return stride


def projection(s: tuple, out: Any, items: list, kids: list, ctx: Context) -> tuple[str, int]:
    """How a residual maps its input onto the output of its body (`items`, planned as `kids`):
    (none|linear|conv1d|conv2d, stride)."""
    out = one_tensor("residual body", out)
    if out == s:
        return "none", 1
    names = names_in(kids)
    if len(s) == 1 or (len(s) == 2 and not names & CHANNELS_FIRST):
        if len(out) != len(s) or out[:-1] != s[:-1] or out[-1] is None:
            raise ShapeError(f"residual cannot project {fmt(s)} to {fmt(out)}: a linear projection changes only the last axis")
        return "linear", 1
    if len(s) not in (2, 3) or len(out) != len(s) or s[0] is None or out[0] is None:
        raise ShapeError(f"residual cannot project {fmt(s)} to {fmt(out)}; it projects (F,), (C, L) and (C, H, W)")
    kind = "conv1d" if len(s) == 2 else "conv2d"
    return kind, (probed_stride(s, out, items, ctx) if None in s[1:] else strides(s, out))


def names_in(nodes: list) -> set[str]:
    """The layer names in planned nodes, blocks included."""
    return {node.name for node in nodes} | {n for node in nodes for kid in node.children for n in names_in(kid)}


def probed_stride(s: tuple, out: tuple, items: list, ctx: Context) -> int:
    """The projection stride for dynamic axes: re-plan the body with them fixed to each of
    PROBES lengths (every remainder of the stride, as odd sizes round differently)."""
    found = {body_stride((s[0], *(n if d is None else d for d in s[1:])), items, ctx) for n in PROBES}
    if len(found) != 1 or None in found:
        raise ShapeError(f"residual cannot project {fmt(s)} to {fmt(out)} with a strided 1x1 convolution for every length")
    return found.pop()


def body_stride(fixed: tuple, items: list, ctx: Context) -> int | None:
    """The projection stride for the body on input `fixed`, or None when there is none."""
    scratch = ctx.scratch()  # its problems are not the recipe's: discard them
    resized, _ = scratch.plan(items, fixed, ())
    if scratch.problems or resized is None or isinstance(resized, list):
        return None
    try:
        return strides(fixed, resized)
    except ShapeError:
        return None


class ResidualArgs(Args):
    layers: list = Field(min_length=1, description="the body f; the block computes f(x) + x")
    projection: Literal["auto", "none"] = Field(
        "auto", description="auto: a linear or strided 1x1 convolution maps x to f(x)'s shape when they differ")


@layers.register("residual")
class Residual(Layer):
    """f(x) + x around a list of layers, projecting x (linear or strided 1x1 conv) when f changes its shape."""

    Args = ResidualArgs
    main = "layers"

    def children(self, a, s, ctx, path):
        s = one_tensor("residual", s)
        out, nodes = ctx.plan(a.layers, s, path + ("layers",))
        if out is None:
            return None, [nodes]
        if a.projection == "none" and out != s:
            raise ShapeError(f"residual body maps {fmt(s)} to {fmt(out)}; with projection: none they must agree")
        projection(s, out, a.layers, nodes, ctx)
        return out, [nodes]

    def build(self, node, ctx):
        from dlcli.nn._torch_modules import Residual as ResidualModule

        kind, stride = projection(node.in_shape, node.out_shape, node.args.layers, node.children[0], ctx)
        return ResidualModule(ctx.build(node.children[0]), projection_module(kind, stride, node, ctx))


def projection_module(kind: str, stride: int, node, ctx: Context) -> Any:
    """The torch module for a projection; the model-wide initialiser applies to it too."""
    if kind == "none":
        return None
    from torch import nn

    axis = -1 if kind == "linear" else 0  # the features of a vector or sequence, the channels of a map
    c_in, c_out = node.in_shape[axis], node.out_shape[axis]
    if kind == "linear":
        module = nn.Linear(c_in, c_out)
    else:
        module = (nn.Conv1d if kind == "conv1d" else nn.Conv2d)(c_in, c_out, 1, stride=stride)
    if ctx.init:
        initializers.get(ctx.init)(module, node)
    return module


class ParallelArgs(Args):
    branches: list[list] = Field(min_length=1, description="layer lists run on the same input; [] is the identity")
    merge: Literal["concat", "sum", "list"] = Field(
        "concat", description="concat on the channel axis (the first), sum, or list (several outputs)")


@layers.register("parallel")
class Parallel(Layer):
    """Run branches on one input (Inception-style) and merge: concat channels (first axis), sum, or list the outputs."""

    Args = ParallelArgs
    main = "branches"

    def children(self, a, s, ctx, path):
        s = one_tensor("parallel", s)
        outs, kids = [], []
        for i, branch in enumerate(a.branches):
            if ctx.budget.spent:
                return None, kids
            out, nodes = ctx.plan(branch, s, path + ("branches", i))
            outs.append(out)
            kids.append(nodes)
        if any(out is None for out in outs):
            return None, kids
        return merged(a.merge, outs), kids

    def build(self, node, ctx):
        from dlcli.nn._torch_modules import Parallel as ParallelModule

        return ParallelModule([ctx.build(nodes) for nodes in node.children], node.args.merge)


def merged(merge: str, outs: list) -> Any:
    """The output shape of merging branch outputs `outs`."""
    for i, out in enumerate(outs):
        if isinstance(out, list):
            raise ShapeError(f"parallel branch {i} gives {len(out)} outputs {fmt(out)}; end it with `select: i`")
    if merge == "list":
        return list(outs)
    if merge == "sum":
        if any(out != outs[0] for out in outs):
            raise ShapeError(f"parallel merge: sum needs equal branch shapes, got {fmt(outs)}")
        return outs[0]
    rest = {out[1:] for out in outs}
    if len(rest) > 1 or not outs[0]:
        raise ShapeError(f"parallel merge: concat joins the first axis; the other axes must agree, got {fmt(outs)}")
    channels = [out[0] for out in outs]
    return (None if None in channels else sum(channels), *outs[0][1:])


class RepeatArgs(Args):
    times: int = Field(ge=1, description="how many copies, each with its own weights")
    layers: list = Field(min_length=1, description="the layers to repeat")


@layers.register("repeat")
class Repeat(Layer):
    """The layer list `layers` applied `times` times in a row, each copy with its own weights."""

    Args = RepeatArgs

    def children(self, a, s, ctx, path):
        kids = []
        for r in range(a.times):
            if ctx.budget.spent:  # the model is too large: plan_model says so once
                return None, kids
            before = len(ctx.problems)
            s, nodes = ctx.plan(a.layers, s, path + ("layers",))
            kids.append(nodes)
            if len(ctx.problems) > before:  # the later copies would repeat the same errors
                for problem in ctx.problems[before:]:
                    problem.message += f" (in repetition {r + 1} of {a.times})"
                return None, kids
        return s, kids

    def build(self, node, ctx):
        from torch import nn

        return nn.Sequential(*[ctx.build(nodes) for nodes in node.children])
