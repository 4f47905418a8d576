"""The ONNX opsets dlcli exports, as constants: `validate` checks a recipe's opset without torch or onnx.

What torch 2.13's exporters really produce, found by exporting every layer of
tests/layer_examples.py at every opset and running the result on ONNX Runtime:

- The dynamo exporter writes opset 18 and then converts. Up (19..25) onnxscript's version
  converter does it, for every layer. Down, onnx.version_converter lacks adapters for common ops
  (Relu and Div below 14, Shape below 15, Identity below 16, ReduceMean below 18,
  LayerNormalization below 17, ...) and torch then keeps opset 18 without a word; where an
  adapter exists it may be wrong (LogSoftmax below 13 gives other numbers).
- The TorchScript exporter (`dynamo=False`) writes opsets 7..20 itself. From 13 on it covers every
  layer once dlcli gives it the two opset-13 functions it lacks (aten::triu for causal masks and
  scaled_dot_product_attention, see export/torchscript13.py); below 13 attention and transformer layers
  cannot be written at all, and its conv2d 'same' padding with dilation fails on ONNX Runtime.

So opsets 13..25 are exported (dynamo first, TorchScript where dynamo cannot reach the opset),
each checked for the asked opset and gated on parity there.
"""
from __future__ import annotations

MIN_OPSET = 13  # the oldest every layer can be written at; also what older runtimes commonly need
MAX_OPSET = 25  # the newest onnxscript's version converter writes
DEFAULT_OPSET = 18  # what the dynamo exporter writes natively
TORCHSCRIPT_MAX_OPSET = 20  # the newest the TorchScript exporter writes


def producible(opset: int) -> bool:
    return MIN_OPSET <= opset <= MAX_OPSET


def refusal(opset: int) -> str:
    """Why an opset is refused, worded alike for a recipe's export.onnx.opset and for --opset."""
    return f"opset {opset} cannot be produced: dlcli exports ONNX opsets {MIN_OPSET} to {MAX_OPSET}"
