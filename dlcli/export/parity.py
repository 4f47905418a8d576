"""The parity gate: ONNX Runtime against PyTorch (eval mode) on held-out samples.

Batch 1 and a larger batch both run, since dynamic-batch bugs show only at one of them. An
element fails when |onnx - torch| > atol + rtol * |torch|, the rule of numpy.isclose.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.export.scratch import private_tmpdir

BATCH_ONE_SAMPLES = 4
LARGE_BATCH = 64


def ort_session(model_bytes: bytes, threads: int = 0) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 4  # its errors reach us as exceptions; on stderr they would only be noise
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def run_both(model: Any, session: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both runtimes on the same inputs: an array, or a tuple of arrays for a module with several."""
    import torch

    xs = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    onnx_out = session.run(None, {i.name: v for i, v in zip(session.get_inputs(), xs)})[0]
    with torch.no_grad():
        torch_out = model(*(torch.as_tensor(v) for v in xs)).float().numpy()
    return onnx_out, torch_out


def rows(x: Any, part: slice) -> Any:
    """The same rows of every input."""
    return tuple(v[part] for v in x) if isinstance(x, (tuple, list)) else x[part]


def count(x: Any) -> int:
    return len(x[0]) if isinstance(x, (tuple, list)) else len(x)


def compare(onnx_out: np.ndarray, torch_out: np.ndarray, atol: float, rtol: float) -> dict:
    diff = np.abs(onnx_out.astype(np.float64) - torch_out.astype(np.float64))
    allowed = atol + rtol * np.abs(torch_out)
    rel = diff / np.maximum(np.abs(torch_out), np.finfo(np.float32).tiny)
    worst = np.unravel_index(np.argmax(diff - allowed), diff.shape)
    return {"max_abs": float(diff.max(initial=0.0)), "max_rel": float(rel.max(initial=0.0)),
            "failed": int((diff > allowed).sum()), "worst": {"index": [int(i) for i in worst],
            "onnx": float(onnx_out[worst]), "torch": float(torch_out[worst]), "abs": float(diff[worst])}}


def check_parity(model: Any, model_bytes: bytes, x: np.ndarray, atol: float, rtol: float) -> dict:
    """Compare at batch 1 (a few samples one by one) and at one larger batch; the worst counts."""
    with private_tmpdir():  # importing ONNX Runtime writes a telemetry file to the temp folder
        return parity_report(ort_session(model_bytes), model, x, atol, rtol)


def parity_report(session: Any, model: Any, x: np.ndarray, atol: float, rtol: float) -> dict:
    """The gate's report over batch-1 runs and one large batch, from an open session."""
    model.eval()
    output = session.get_outputs()[0].name
    runs = [rows(x, slice(i, i + 1)) for i in range(min(BATCH_ONE_SAMPLES, count(x)))] + [rows(x, slice(0, LARGE_BATCH))]
    results = []
    for batch in runs:
        r = compare(*run_both(model, session, batch), atol, rtol)
        r["batch"] = count(batch)
        results.append(r)
    worst = max(results, key=lambda r: (r["failed"] > 0, r["worst"]["abs"]))
    return {"passed": all(r["failed"] == 0 for r in results), "output": output, "atol": atol, "rtol": rtol,
            "samples": count(runs[-1]), "batches": sorted({r["batch"] for r in results}),
            "max_abs": max(r["max_abs"] for r in results), "max_rel": max(r["max_rel"] for r in results),
            "worst": {**worst["worst"], "batch": worst["batch"]}}


def mismatch_message(report: dict) -> str:
    w = report["worst"]
    return (f"ONNX Runtime disagrees with PyTorch on output '{report['output']}' at batch {w['batch']}, "
            f"element {tuple(w['index'])}: onnx {w['onnx']:.9g} vs torch {w['torch']:.9g} "
            f"(|diff| {w['abs']:.3g} > atol {report['atol']:g} + rtol {report['rtol']:g} * |torch|)")
