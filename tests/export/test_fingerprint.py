"""The ONNX graph hash: what the model computes, not where or how it was exported."""
from __future__ import annotations

import onnx
from onnx import helper, numpy_helper
import numpy as np

from dlcli.export.fingerprint import graph_sha256


def model(weight: float = 1.0, trace: str = "pipeline.py, line 34") -> onnx.ModelProto:
    w = numpy_helper.from_array(np.full((2, 2), weight, np.float32), "w")
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")
    node.metadata_props.add(key="pkg.torch.onnx.stack_trace", value=f'File "/checkout/{trace}"')
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 2])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 2])], [w])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    m.metadata_props.add(key="dlcli.run", value="/runs/a/0001")
    return m


def test_metadata_stack_traces_and_doc_strings_do_not_count():
    a, b = model(), model(trace="elsewhere/pipeline.py, line 99")
    b.metadata_props[0].value = "/runs/b/0002"
    b.doc_string, b.producer_version = "another export", "9.9"
    assert graph_sha256(a) == graph_sha256(b)


def test_weights_and_structure_count():
    assert graph_sha256(model()) != graph_sha256(model(weight=1.5))
    other = model()
    other.graph.node[0].op_type = "Add"
    assert graph_sha256(model()) != graph_sha256(other)
