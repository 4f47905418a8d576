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


def test_the_exporters_numbering_of_values_and_nodes_does_not_count():
    """The same graph with its constant and node names counted from elsewhere (a process that
    exported another model first) hashes the same; what feeds which input still counts."""
    def chain(a: str, b: str, node: str, second: float = 2.0) -> onnx.ModelProto:
        c1 = numpy_helper.from_array(np.full((2,), 1.0, np.float32), a)
        c2 = numpy_helper.from_array(np.full((2,), second, np.float32), b)
        nodes = [helper.make_node("Add", ["x", a], [f"{a}_out"], name=f"node_{node}"),
                 helper.make_node("Mul", [f"{a}_out", b], ["y"], name=f"node_{node}_1")]
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 2])],
                                  [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 2])], [c1, c2])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])

    assert graph_sha256(chain("val_11", "val_3", "Add_7")) == graph_sha256(chain("val_12", "val_4", "Add_8"))
    assert graph_sha256(chain("val_11", "val_3", "Add_7")) != graph_sha256(chain("val_11", "val_3", "Add_7", 3.0))
    swapped = chain("val_11", "val_3", "Add_7")  # the constants fed to the other node: another computation
    swapped.graph.node[0].input[1], swapped.graph.node[1].input[1] = "val_3", "val_11"
    assert graph_sha256(swapped) != graph_sha256(chain("val_11", "val_3", "Add_7"))
