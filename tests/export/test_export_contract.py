"""Everything exports: every registered layer, exported alone, passes the parity gate.

Shipped recipes are exported after their one-epoch smoke training in tests/test_recipes.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dlcli.nn  # noqa: F401
from dlcli.export import onnx_export as ox
from dlcli.export.parity import check_parity
from dlcli.nn.base import layers
from dlcli.nn.model import build_model, plan_model
from tests.layer_examples import EXAMPLES, MEMORY, SEQ, TOKEN_IDS, VOCAB, concrete, runnable

# layers whose example takes several inputs get a single-input model around them
WRAPPED = {"select": ([{"lstm": {"hidden": 4, "return": "all"}}, {"select": 1}], (None, 3))}


def model_for(name: str) -> tuple[list, tuple]:
    if name in WRAPPED:
        return WRAPPED[name]
    item, shape = EXAMPLES[name]
    return [item], shape


def inputs(name: str, shape: tuple, n: int, length: int = SEQ, memory: bool = True):
    """One array, or (x, memory) for a layer in MEMORY (its memory 2 longer than x)."""
    rng = np.random.default_rng(0)
    if memory and name in MEMORY:
        return inputs(name, shape, n, length, False), inputs("", MEMORY[name], n, length + 2, False)
    dims = tuple(length if d is None else d for d in shape)
    if name in TOKEN_IDS:
        return rng.integers(0, VOCAB, (n, *dims)).astype(np.float32)
    return rng.normal(size=(n, *dims)).astype(np.float32)


def example_model(name: str) -> tuple:
    """(a layer's built example as a module of its inputs, 8 example inputs, the sequence axes of
    each input for the exporter, the sequence axes of the first)."""
    items, shape = model_for(name)
    plan = plan_model(items, shape, outputs=5, memory=MEMORY.get(name))
    if isinstance(plan.out_shape, list):  # several outputs: the gate compares the first
        plan = plan_model(items + [{"select": 0}], shape, outputs=5)
    assert plan.ctx.problems == []
    torch.manual_seed(0)
    model = runnable(name, build_model(plan).eval())
    seq_axes = [i for i, d in enumerate(shape) if d is None]
    return model, inputs(name, shape, 8), [seq_axes, [0]] if name in MEMORY else seq_axes, seq_axes


@pytest.mark.parametrize("name", layers.names())
def test_layer_exports_with_parity(name):
    _, shape = model_for(name)
    model, x, axes, seq_axes = example_model(name)
    proto, exporter, notes = ox.export_model(model, x, 18, axes, True)
    assert exporter == "dynamo", notes
    report = check_parity(model, proto.SerializeToString(), x, atol=1e-5, rtol=1e-3)
    assert report["passed"], report
    assert report["batches"] == [1, 8]
    for axis in seq_axes:
        if proto.graph.input[0].type.tensor_type.shape.dim[1 + axis].dim_param:  # kept dynamic: prove it
            longer = check_parity(model, proto.SerializeToString(), inputs(name, shape, 4, SEQ + 3), 1e-5, 1e-3)
            assert longer["passed"], longer
        else:
            assert any("sequence axis fixed" in n for n in notes)
    if name in MEMORY:  # the memory's length too
        assert proto.graph.input[1].type.tensor_type.shape.dim[1].dim_param
        other = inputs(name, shape, 4, SEQ + 3)
        assert check_parity(model, proto.SerializeToString(), (other[0], other[1][:, :2]), 1e-5, 1e-3)["passed"]
    if name in ("lstm", "gru", "attention", "transformer_encoder", "conv1d", "layernorm", *MEMORY):
        assert not notes, f"{name}: the sequence axis should stay dynamic"
