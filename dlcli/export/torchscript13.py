"""Opset-13 versions of the two functions torch's TorchScript exporter writes only from opset 14.

Without them the attention layers (a causal mask made by torch.triu; nn.MultiheadAttention's
scaled_dot_product_attention) cannot be exported at opset 13, which older runtimes need.
triu/tril become index comparisons (Range, Sub, GreaterOrEqual: all in opset 13) instead of
Trilu (opset 14); attention reuses torch's own opset-14 function, which needs Trilu only for
`is_causal=True` (refused at 13 below, as a graph with Trilu would not be opset 13).
Registered for opset 13 only: the exporter picks the newest function at or below the target, so
exports at 14 and later keep torch's own.
"""
from __future__ import annotations

from typing import Any

REGISTERED = False


def triangle(upper: bool):
    """aten::triu (upper) or aten::tril: keep x[..., i, j] where j - i >= k (triu) or <= k (tril)."""
    import torch
    from torch.onnx import symbolic_helper as sh
    from torch.onnx._internal.torchscript_exporter._type_utils import JitScalarType

    @sh.parse_args("v", "i", "none")
    def symbolic(g: Any, x: Any, diagonal: int, out: Any = None) -> Any:
        keep = g.op("GreaterOrEqual" if upper else "LessOrEqual", offsets(g, x), const(g, [diagonal]))
        if sh._is_bool(x):
            return g.op("And", x, keep)
        zero = g.op("Constant", value_t=torch.zeros((), dtype=JitScalarType.from_value(x).dtype()))
        return g.op("Where", keep, x, zero)  # not x * keep: inf * 0 would be NaN

    return symbolic


def const(g: Any, values: list[int]) -> Any:
    import torch

    return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))


def offsets(g: Any, x: Any) -> Any:
    """(N, M) int64 with j - i at [i, j], for x of shape (..., N, M)."""
    shape = g.op("Shape", x)
    zero, one = g.op("Constant", value_t=const_scalar(0)), g.op("Constant", value_t=const_scalar(1))
    n = g.op("Gather", shape, g.op("Constant", value_t=const_scalar(-2)), axis_i=0)
    m = g.op("Gather", shape, g.op("Constant", value_t=const_scalar(-1)), axis_i=0)
    rows = g.op("Unsqueeze", g.op("Range", zero, n, one), const(g, [1]))  # (N, 1)
    cols = g.op("Unsqueeze", g.op("Range", zero, m, one), const(g, [0]))  # (1, M)
    return g.op("Sub", cols, rows)


def const_scalar(v: int) -> Any:
    import torch

    return torch.tensor(v, dtype=torch.int64)


def attention():
    """torch's opset-14 scaled_dot_product_attention, for the cases that need no Trilu."""
    from torch.onnx._internal.torchscript_exporter import symbolic_opset14
    from torch.onnx import symbolic_helper as sh

    inner = symbolic_opset14.scaled_dot_product_attention

    def symbolic(g: Any, query: Any, key: Any, value: Any, attn_mask: Any = None, dropout_p: Any = None,
                 is_causal: Any = None, scale: Any = None, enable_gqa: Any = None) -> Any:
        if sh._maybe_get_const(is_causal, "b"):
            raise RuntimeError("scaled_dot_product_attention with is_causal=True needs opset 14 (Trilu)")
        return inner(g, query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)

    return symbolic


def register() -> None:
    """Once per process; harmless to exports at other opsets (see the module docstring)."""
    global REGISTERED
    if REGISTERED:
        return
    import torch

    torch.onnx.register_custom_op_symbolic("aten::triu", triangle(upper=True), 13)
    torch.onnx.register_custom_op_symbolic("aten::tril", triangle(upper=False), 13)
    torch.onnx.register_custom_op_symbolic("aten::scaled_dot_product_attention", attention(), 13)
    REGISTERED = True
