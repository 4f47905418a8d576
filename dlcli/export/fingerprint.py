"""A hash of what an ONNX model computes: its graph and initializer values, not its file bytes,
so metadata (run paths, recipe hashes, producer versions) and storage layout do not change it."""
from __future__ import annotations

import hashlib
from typing import Any


def graph_sha256(proto: Any) -> str:
    """sha256 over the opsets, the graph's structure and each initializer's name, type, shape and values."""
    from onnx import ModelProto, numpy_helper

    model = ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    h = hashlib.sha256()
    for opset in sorted((o.domain, o.version) for o in model.opset_import):
        h.update(f"{opset}\n".encode())
    for init in sorted(graph.initializer, key=lambda t: t.name):
        values = numpy_helper.to_array(init)
        h.update(f"{init.name}:{values.dtype}:{values.shape}\n".encode())
        h.update(values.tobytes())
    del graph.initializer[:]
    graph.doc_string = ""
    h.update(graph.SerializeToString(deterministic=True))
    return h.hexdigest()
