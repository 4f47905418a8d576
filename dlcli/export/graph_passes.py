"""Passes over an exported ModelProto that let more consumers load it, without changing what it computes."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np


def constants(graph: Any, outer: Optional[dict] = None) -> dict[str, np.ndarray]:
    """The tensors known before the graph runs: initializers and Constant nodes' values (plus the
    enclosing graph's, which a subgraph sees)."""
    from onnx import numpy_helper

    known = dict(outer or {})
    known.update({t.name: numpy_helper.to_array(t) for t in getattr(graph, "initializer", [])})  # none in a function
    for node in graph.node:
        if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
            continue
        for attr in node.attribute:
            if attr.name == "value":
                known[node.output[0]] = numpy_helper.to_array(attr.t)
            elif attr.name == "value_ints":
                known[node.output[0]] = np.array(list(attr.ints), dtype=np.int64)
    return known


def allowzero_needless(node: Any, known: dict[str, np.ndarray]) -> Optional[Any]:
    """The `allowzero=1` attribute of a Reshape whose target shape is a constant without a 0, else None.

    allowzero only changes what a 0 in the target shape means (copy that axis, or a zero-sized
    axis); with no 0 it changes nothing."""
    if node.op_type != "Reshape" or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
        return None
    attr = next((a for a in node.attribute if a.name == "allowzero"), None)
    shape = known.get(node.input[1])
    if attr is None or attr.i != 1 or shape is None or (shape == 0).any():
        return None
    return attr


def drop_needless_allowzero(graph: Any, outer: Optional[dict] = None) -> int:
    """Remove Reshape's allowzero=1 where it changes nothing, in subgraphs too; how many were removed.

    The dynamo exporter writes allowzero=1 on every Reshape; onnx2torch and runtimes older than
    opset 14 refuse it, and for a constant shape without 0 the default (0) computes the same."""
    known, removed = constants(graph, outer), 0
    for node in graph.node:
        attr = allowzero_needless(node, known)
        if attr is not None:
            node.attribute.remove(attr)
            removed += 1
        for a in node.attribute:
            for sub in [a.g] if a.HasField("g") else list(a.graphs):
                removed += drop_needless_allowzero(sub, known)
    return removed


def portable(proto: Any) -> Any:
    """The model with every pass applied, in place (local functions too); returned for chaining."""
    drop_needless_allowzero(proto.graph)
    for function in proto.functions:
        drop_needless_allowzero(function)
    return proto
