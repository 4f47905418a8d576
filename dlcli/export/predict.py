"""`dlcli predict`: an exported .onnx and raw inputs in; labels and probabilities, or values, out.

ONNX Runtime alone: nothing here imports torch, so a model runs where only onnxruntime is
installed. The ModelCard in the file's metadata says what the input is and what the output means;
preprocessing (reshape, normalisation, target scaling) is inside the graph, so inputs go in raw.

A .onnx that dlcli did not export has no card: it is still run when its graph fixes the input
shape, and its first output is reported as raw values (no labels, no probabilities).
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from dlcli.errors import RunFailed, UsageError
from dlcli.export.inputs import InputSpec, Samples, read_input
from dlcli.export.metadata import PREFIX, ModelCard
from dlcli.export.scratch import private_tmpdir
from dlcli.fsio import write_atomic

DEFAULT_BATCH = 256
OUT_FORMATS = (".csv", ".json")
NOTES = {
    "margins": "this model was trained with a hinge loss: its outputs are margins, not probabilities; "
               "the label is the class with the largest margin",
    "raw": "this .onnx has no dlcli metadata: its outputs are reported raw, without labels",
}


@dataclass
class Model:
    path: Path
    session: Any  # onnxruntime.InferenceSession
    card: Optional[ModelCard]
    spec: InputSpec


def first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def model_path(model: Path) -> Path:
    """MODEL is a run directory (its model.onnx) or an .onnx file."""
    model = Path(model)
    if model.is_dir():
        path = model / "model.onnx"
        if path.is_file():
            return path
        if (model / "run.json").is_file():
            raise UsageError(f"{model} has no model.onnx; run `dlcli export {model}` first")
        raise UsageError(f"{model} is not a run directory (no run.json) and holds no model.onnx; "
                         "give a run directory, e.g. runs/NAME/latest, or an .onnx file")
    if not model.exists():
        raise UsageError(f"model not found: {model} (give a run directory or an .onnx file)")
    return model


def open_session(path: Path) -> Any:
    with private_tmpdir():  # importing ONNX Runtime writes a telemetry file to the temp folder
        import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # ORT's own warnings would interleave with the predictions
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own types (InvalidProtobuf, Fail, ...) for a file it cannot use
        raise UsageError(f"cannot load {path}: {first_line(e)}") from None


def read_card(session: Any, path: Path) -> Optional[ModelCard]:
    """The ModelCard, or None for a file with no dlcli keys at all (not exported by dlcli)."""
    props = session.get_modelmeta().custom_metadata_map
    if not any(k.startswith(PREFIX) for k in props):
        return None
    try:
        return ModelCard.from_props(props)
    except KeyError as e:
        raise UsageError(f"cannot load {path}: its dlcli metadata lacks '{PREFIX}{e.args[0]}'; "
                         "export it again with `dlcli export`") from None
    except ValueError as e:  # a JSON value that does not parse
        raise UsageError(f"cannot load {path}: its dlcli metadata is damaged: {first_line(e)}") from None


def input_spec(session: Any, card: Optional[ModelCard], path: Path) -> InputSpec:
    """From the card when there is one; otherwise the graph must fix every axis but the batch."""
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)":
        got = ", ".join(f"{i.name}: {i.type}" for i in inputs) or "none"
        raise UsageError(f"cannot predict with {path}: it takes inputs ({got}); dlcli predict feeds one float tensor")
    if card is not None:
        i = card.input
        return InputSpec(tuple(i["shape"][1:]), i.get("feature_names"), i.get("image"))
    dims = inputs[0].shape[1:]
    if not all(isinstance(d, int) for d in dims):
        raise UsageError(f"cannot predict with {path}: it has no dlcli metadata and its input shape "
                         f"{inputs[0].shape} leaves per-sample axes open; export it with `dlcli export`")
    return InputSpec(tuple(dims))


def load_model(model: Path) -> Model:
    path = model_path(model)
    session = open_session(path)
    card = read_card(session, path)
    return Model(path, session, card, input_spec(session, card, path))


def run_batches(m: Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """The first output for every sample, batch_size at a time. A graph exported with a fixed batch
    axis gets exactly that many per call: the last batch is padded and the padding dropped."""
    graph_in = m.session.get_inputs()[0]
    fixed = graph_in.shape[0] if isinstance(graph_in.shape[0], int) else None
    step, outs = fixed or batch_size, []
    for start in range(0, len(x), step):
        chunk = x[start:start + step]
        n = len(chunk)
        if fixed and n < fixed:
            chunk = np.concatenate([chunk, np.zeros((fixed - n,) + chunk.shape[1:], np.float32)])
        try:
            outs.append(np.asarray(m.session.run(None, {graph_in.name: chunk})[0])[:n])
        except Exception as e:  # the input was checked against the card: a failure here is the model's
            raise RunFailed(f"ONNX Runtime failed on samples {start}..{start + n - 1}: {first_line(e)}") from None
    return np.concatenate(outs).reshape(len(x), -1)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))  # 1 / (1 + e^-z) without overflow warnings for large |z|


def probabilities(scores: np.ndarray, kind: str) -> Optional[np.ndarray]:
    """(N, K) class probabilities from what the output holds (the card's `scores`); None for margins."""
    z = scores.astype(np.float64)
    if kind == "logits":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if kind == "logit":  # one binary logit: the probability of class 1
        p = sigmoid(z[:, :1])
        return np.concatenate([1.0 - p, p], axis=1)
    if kind == "sigmoid_logits":  # independent per class: they need not sum to 1
        return sigmoid(z)
    if kind == "log_probs":
        return np.exp(z)
    if kind == "margins":
        return None
    raise UsageError(f"the model's outputs are '{kind}', which this dlcli cannot interpret; upgrade dlcli")


def classify(card: ModelCard, scores: np.ndarray, s: Samples) -> list[dict]:
    """Per sample the most likely class, its probability and all of them (margins: the scores)."""
    probs = probabilities(scores, card.scores)
    table = probs if probs is not None else scores.astype(np.float64)
    classes = card.classes or [str(i) for i in range(table.shape[1])]
    if len(classes) != table.shape[1]:
        raise UsageError(f"the model's metadata names {len(classes)} classes but its output has {table.shape[1]} "
                         "scores per sample; export it again with `dlcli export`")
    one, many = ("probability", "probabilities") if probs is not None else ("score", "scores")
    return [{s.key: k, "label": classes[c], one: float(row[c]), many: dict(zip(classes, map(float, row)))}
            for k, c, row in zip(s.keys, table.argmax(axis=1), table)]


def interpret(card: Optional[ModelCard], scores: np.ndarray, s: Samples) -> list[dict]:
    if card is not None and card.classes is not None:
        return classify(card, scores, s)
    return [{s.key: k, "values": [float(v) for v in row]} for k, row in zip(s.keys, scores)]


def predict(model: Path, input_path: Path, batch_size: int = DEFAULT_BATCH) -> dict:
    """The whole prediction as one JSON-ready document."""
    m = load_model(model)
    samples = read_input(input_path, m.spec)
    predictions = interpret(m.card, run_batches(m, samples.x, batch_size), samples)
    kind = m.card.scores if m.card else "raw"
    doc = {"model": str(m.path), "task": m.card.task if m.card else None, "scores": kind,
           "rows": len(predictions), "predictions": predictions}
    notes = samples.notes + ([NOTES[kind]] if kind in NOTES else [])
    if notes:
        doc["note"] = "; ".join(notes)
    return doc


def check_out(out: Optional[Path], *inputs: Path) -> None:
    """Before any work: a wrong --out should not cost a full prediction run, and predictions
    must never replace what they are made from (the input, or the model)."""
    if out is None:
        return
    if Path(out).suffix.lower() not in OUT_FORMATS:
        raise UsageError(f"--out {out}: the file name must end in .csv or .json")
    for given in inputs:
        if same_file(Path(out), Path(given)):
            raise UsageError(f"--out {out} names the same file as {given}: writing the predictions would "
                             "overwrite it; choose another file name")


def same_file(out: Path, given: Path) -> bool:
    """Whether OUT names GIVEN (or a run directory's model.onnx) through a relative path, a
    symlink either way or a hard link."""
    for c in ([given, given / "model.onnx"] if given.is_dir() else [given]):
        try:
            if out.exists() and c.exists():
                if os.path.samefile(out, c):
                    return True
            elif out.resolve() == c.resolve():  # a dangling link to where the input should be
                return True
        except (OSError, RuntimeError):  # unreadable or a link loop: the later read or write says why
            continue
    return False


def flat(prediction: dict) -> dict:
    """One CSV row: scalars as they are, then p_<class> / score_<class> / value columns."""
    row = {k: v for k, v in prediction.items() if not isinstance(v, (dict, list))}
    for name, prefix in (("probabilities", "p_"), ("scores", "score_")):
        row.update({prefix + c: v for c, v in prediction.get(name, {}).items()})
    values = prediction.get("values")
    if values is not None:
        row.update({"value": values[0]} if len(values) == 1 else {f"value_{j}": v for j, v in enumerate(values)})
    return row


def write_predictions(doc: dict, out: Path) -> None:
    """The predictions as .csv (one row per sample) or the whole document as .json, atomically."""
    out = Path(out)
    if out.suffix.lower() == ".json":
        write_atomic(out, json.dumps(doc, indent=2) + "\n")
        return
    rows = [flat(p) for p in doc["predictions"]]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(out, buf.getvalue())
