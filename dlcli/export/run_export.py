"""`dlcli export`: a run directory in, model.onnx and a parity report out (recorded in run.json)."""
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
from dlcli.export.parity import check_parity, mismatch_message
from dlcli.fsio import write_atomic


def held_out(s: Any) -> np.ndarray:
    """Raw samples for the gate: the test split, else val, else train, in the shape users give."""
    data = s.data
    split = next(k for k in ("test", "val", "train") if data.size(k))
    x = data.dataset.x[data.indices[split]]
    return np.ascontiguousarray(x.reshape((len(x),) + data.dataset.info.user_shape), dtype=np.float32)


def image_spec(doc: dict) -> Optional[dict]:
    """How predict must decode image files: the image_folder source's size and mode."""
    from dlcli.components import split_source
    from dlcli.data import sources

    name, args = split_source(doc["data"]["source"])
    if name != "image_folder":
        return None
    a = sources.get(name).Args(**args)
    return {"size": list(a.size), "mode": a.mode}


def model_card(s: Any, run: Path, proto: Any) -> ModelCard:
    from dlcli.components import split_component

    info, r = s.data.dataset.info, s.resolved
    graph_in, graph_out = proto.graph.input[0], proto.graph.output[0]
    image = image_spec(r.doc)
    loss = split_component(r.recipe.train.loss or s.task.default_loss)[0]
    return ModelCard(
        dlcli.__version__, r.recipe.name, ox.recipe_sha256(run), r.task, scores_kind(r.task, loss, r.plan.out_shape[-1]),
        {"name": graph_in.name, "shape": [None, *info.user_shape], "dtype": "float32", "layout": info.layout,
         "feature_names": info.feature_names, "image": image},
        {"name": graph_out.name, "shape": [None, *r.plan.out_shape]}, info.classes)


EXPORT_STILL = "`dlcli eval` still works on its checkpoints, but an export is recorded in run.json"


def export_run(run_dir: Path, out: Optional[Path] = None, opset: Optional[int] = None, check: bool = True) -> dict:
    """Export the weights the run evaluated (run.json's, else its recipe's train.eval); exit 1
    (RunFailed) on a parity mismatch, after saving the file and the report, so the evidence stays
    for inspection. A missing or damaged run.json, or a folder it cannot write, is exit 2 up front."""
    from dlcli.engine.evaluate import load_run
    from dlcli.recipe.schema import Onnx
    from dlcli.repro import rundir

    run = rundir.open_run(run_dir)
    record = rundir.read_record(run, EXPORT_STILL)
    rundir.check_writable(run, "the run directory")
    if out is not None:
        rundir.check_writable(Path(out).parent, "the --out folder")
    run, s = load_run(run, evaluated_tag(record))
    spec = (s.resolved.recipe.export.onnx if s.resolved.recipe.export else None) or Onnx()
    opset = opset or spec.opset
    ox.check_opset(opset)
    model, x = s.model.to("cpu").eval(), held_out(s)
    seq_axes = [0] if s.data.dataset.info.layout == "sequence" else []
    started = time.perf_counter()
    proto, exporter, notes = ox.export_model(model, x, opset, seq_axes, spec.dynamic_batch)
    produced = ox.produced_opset(proto)
    if produced != opset:
        raise RunFailed(f"asked for opset {opset}, but the {exporter} exporter produced opset {produced}; "
                        f"try --opset {produced}")
    blob = ox.finish_proto(proto, model_card(s, run, proto))
    seconds = time.perf_counter() - started
    path = Path(out) if out else run / "model.onnx"
    write_atomic(path, blob)
    tag = evaluated_tag(record) or s.resolved.recipe.train.eval
    report = {"file": str(path), "weights": f"checkpoints/{tag}.safetensors", "bytes": len(blob), "graph_sha256": graph_sha256(proto), "opset": produced, "exporter": exporter,
              "notes": notes, "export_seconds": round(seconds, 3)}
    if check:
        report["parity"] = check_parity(model, blob, x, spec.tolerance.atol, spec.tolerance.rtol)
    _record(run, report)
    if check and not report["parity"]["passed"]:
        raise RunFailed(mismatch_message(report["parity"]))
    return report


def evaluated_tag(record: dict) -> Optional[str]:
    """"best" or "last": which checkpoint the run's final metrics came from (None: not recorded)."""
    name = Path(str((record.get("weights") or {}).get("file", ""))).name
    return {"best.safetensors": "best", "last.safetensors": "last"}.get(name)


def _record(run: Path, report: dict) -> None:
    from dlcli.engine.train import update_record

    update_record(run, export=report)
