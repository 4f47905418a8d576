"""A hash of what an ONNX model computes: its graph and initializer values, not its file bytes.

Left out: model and graph metadata (run paths, recipe hashes, producer versions), doc strings,
and the exporter's per-node metadata, which holds stack traces with absolute source paths and
line numbers, so that the same model exported from another checkout hashes the same.
"""
from __future__ import annotations

import hashlib
from typing import Any


def strip(graph: Any) -> None:
    """Remove what describes the export rather than the computation, in subgraphs too."""
    graph.doc_string = ""
    del graph.metadata_props[:]
    del graph.value_info[:]  # inferred shapes: derived from the rest
    for node in graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs]:
                strip(sub)


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
    strip(graph)
    h.update(graph.SerializeToString(deterministic=True))
    return h.hexdigest()
