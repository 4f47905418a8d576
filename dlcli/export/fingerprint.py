"""A hash of what an ONNX model computes: its graph and initializer values, not its file bytes.

Left out: model and graph metadata (run paths, recipe hashes, producer versions), doc strings,
the exporter's per-node metadata, which holds stack traces with absolute source paths and line
numbers, and the names of nodes and of values inside the graph: the exporters number them with
process-wide counters (`val_12` in one process is `val_11` in another that exported something
else first). Values are renamed by their first use instead, so the same model exported from
another checkout, or later in the same process, hashes the same.
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


def rename(graph: Any, names: dict, keep: set) -> None:
    """Give every value that is not a graph input or output the name of its first use (v0, v1, ...),
    in node order, subgraphs included; node names go."""
    def canonical(name: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, f"v{len(names)}")

    for node in graph.node:
        node.name = ""
        node.input[:] = [canonical(n) for n in node.input]
        node.output[:] = [canonical(n) for n in node.output]
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs]:
                for value in [*sub.input, *sub.output]:
                    value.name = canonical(value.name)
                rename(sub, names, keep)
    for init in graph.initializer:
        init.name = canonical(init.name)


def graph_sha256(proto: Any) -> str:
    """sha256 over the opsets, the graph's structure and each initializer's name, type, shape and values."""
    from onnx import ModelProto, numpy_helper

    model = ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    rename(graph, {}, {v.name for v in [*graph.input, *graph.output]})
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
