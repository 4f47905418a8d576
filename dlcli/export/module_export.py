"""One exported module of a trained Fit: its ONNX graph at the asked opset, its model card, the
file written where it is told, and (when asked) its parity report against PyTorch. Which run it
came from is the caller's (workflows/export.py): here only its recipe's hash and weights' name."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

import dlcli
from dlcli.errors import RunFailed
from dlcli.export import onnx_export as ox
from dlcli.export.fingerprint import graph_sha256
from dlcli.export.metadata import ModelCard, scores_kind
from dlcli.export.parity import check_parity
from dlcli.fsio import write_atomic


def image_spec(doc: dict) -> Optional[dict]:
    """How predict must decode image files: the image_folder source's size and mode."""
    from dlcli.components import split_source
    from dlcli.data import sources

    name, args = split_source(doc["data"]["source"])
    if name != "image_folder":
        return None
    a = sources.get(name).Args(**args)
    return {"size": list(a.size), "mode": a.mode}


def model_card(s: Any, recipe_sha: str, proto: Any, stem: str, em: Any) -> ModelCard:
    """The card of model.onnx of a supervised run (scores, classes, the input predict reads), or of
    another module from what the task says its inputs and outputs mean."""
    info, r = s.data.dataset.info, s.resolved
    graph_in, graph_out = proto.graph.input[0], proto.graph.output[0]
    if em.meaning:
        return ModelCard(dlcli.__version__, r.recipe.name, recipe_sha, r.task, em.meaning.get("scores", stem),
                         {"name": graph_in.name, **em.meaning.get("input", {})},
                         {"name": graph_out.name, **em.meaning.get("output", {})}, info.classes,
                         extra={"module": stem})
    from dlcli.components import split_component

    loss = split_component(r.recipe.train.loss or s.task.default_loss)[0]
    return ModelCard(
        dlcli.__version__, r.recipe.name, recipe_sha, r.task, scores_kind(info.labels, loss, r.plan.out_shape[-1]),
        {"name": graph_in.name, "shape": [None, *info.user_shape], "dtype": "float32", "layout": info.layout,
         "feature_names": info.feature_names, "image": image_spec(r.doc)},
        {"name": graph_out.name, "shape": [None, *r.plan.out_shape]}, info.classes)


def export_module(s: Any, recipe_sha: str, stem: str, em: Any, path: Path, opset: int, spec: Any, check: bool,
                  weights: str) -> dict:
    """One module to one .onnx file, with its card and (when `check`) its parity report; `weights`
    names the checkpoint it was exported from in the report."""
    xs = tuple(em.inputs.values())
    x = xs[0] if len(xs) == 1 else xs  # several inputs: a conditional generator's noise and label
    seq_axes = em.seq_axes if em.seq_axes is not None else \
        [0] if s.data.dataset.info.layout == "sequence" and not em.meaning else []
    started = time.perf_counter()
    proto, exporter, notes = ox.export_model(em.module, x, opset, seq_axes, spec.dynamic_batch)
    produced = ox.produced_opset(proto)
    if produced != opset:
        raise RunFailed(f"asked for opset {opset}, but the {exporter} exporter produced opset {produced}; "
                        f"try --opset {produced}")
    blob = ox.finish_proto(proto, model_card(s, recipe_sha, proto, stem, em))
    seconds = time.perf_counter() - started
    write_atomic(path, blob)
    report = {"file": str(path), "weights": weights, "bytes": len(blob),
              "graph_sha256": graph_sha256(proto), "opset": produced, "exporter": exporter, "notes": notes,
              "export_seconds": round(seconds, 3)}
    if check:
        report["parity"] = gate(em, blob, x, spec.tolerance)
    return report


def gate(em: Any, blob: bytes, x: Any, tolerance: Any) -> dict:
    """The parity report of the example, and of every further example (a sequence model's other
    lengths): all must pass; the worst one's figures are reported, with the shape of each example."""
    examples = [x] + [tuple(more.values()) if len(more) > 1 else next(iter(more.values())) for more in em.more_inputs]
    reports = [check_parity(em.module, blob, xi, tolerance.atol, tolerance.rtol) for xi in examples]
    worst = max(reports, key=lambda r: (not r["passed"], r["max_abs"]))
    if len(reports) > 1:
        worst = {**worst, "passed": all(r["passed"] for r in reports),
                 "shapes": [shapes(xi) for xi in examples]}
    return worst


def shapes(x: Any) -> list:
    """An example's shape, or one per input for a module with several."""
    return [list(np.shape(v)) for v in x] if isinstance(x, tuple) else list(np.shape(x))
