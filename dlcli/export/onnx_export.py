"""Export a run's best checkpoint to one self-contained .onnx file, then gate it on parity.

The exported graph is the whole saved Pipeline: the reshape raw inputs need, the normalisation
fitted on the train split, the network and, for regression, the target scaling. So raw inputs
go in and nothing outside the file can disagree with training.
"""
from __future__ import annotations

import hashlib
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import numpy as np

from dlcli.errors import RunFailed, UsageError

MIN_OPSET = 7
TORCHSCRIPT_MAX_OPSET = 20


def opset_range() -> tuple[int, int]:
    """The opsets this installation can write: up to what the onnx package defines."""
    import onnx

    return MIN_OPSET, onnx.defs.onnx_opset_version()


def check_opset(opset: int) -> None:
    low, high = opset_range()
    if not low <= opset <= high:
        raise UsageError(f"opset {opset} cannot be produced here: the installed exporter writes opsets {low} to {high}")


@contextmanager
def quiet_exporter():
    """The exporters narrate every stage and warn about absent optional packages: keep it off
    the console; what matters (fallbacks, failures) is reported by dlcli itself."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def dynamic_shapes(seq_axes: list[int], dynamic_batch: bool) -> Optional[tuple]:
    """Batch axis dynamic when asked; sequence axes (per-sample indices) dynamic where the
    network allows it (Dim.AUTO keeps an axis fixed when the network needs a fixed length)."""
    import torch

    dims: dict[int, Any] = {1 + axis: torch.export.Dim.AUTO for axis in seq_axes}
    if dynamic_batch:
        dims[0] = torch.export.Dim.DYNAMIC
    return (dims,) if dims else None


def export_dynamo(model: Any, example: Any, opset: int, shapes: Optional[tuple]) -> Any:
    import torch

    with quiet_exporter():
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=opset,
                                    dynamic_shapes=shapes, verbose=False, optimize=True)
    return program.model_proto


def export_torchscript(model: Any, example: Any, opset: int, dynamic_batch: bool) -> Any:
    import io

    import onnx
    import torch

    buf = io.BytesIO()
    axes = {"x": {0: "batch"}, "y": {0: "batch"}} if dynamic_batch else None
    with quiet_exporter():
        torch.onnx.export(model, (example,), buf, dynamo=False, opset_version=min(opset, TORCHSCRIPT_MAX_OPSET),
                          input_names=["x"], output_names=["y"], dynamic_axes=axes)
    return onnx.load_from_string(buf.getvalue())


def to_onnx(model: Any, example: Any, opset: int, seq_axes: list[int], dynamic_batch: bool) -> tuple[Any, str, Optional[str]]:
    """(ModelProto, exporter used, why the dynamo exporter was not used or None)."""
    try:
        return export_dynamo(model, example, opset, dynamic_shapes(seq_axes, dynamic_batch)), "dynamo", None
    except Exception as first:  # any failure of the new exporter: the old one may still cope
        reason = f"{type(first).__name__}: {str(first).strip().splitlines()[0] if str(first).strip() else ''}"
    try:
        return export_torchscript(model, example, opset, dynamic_batch), "torchscript", reason
    except Exception as second:
        raise RunFailed(f"ONNX export failed with both exporters; dynamo: {reason}; "
                        f"torchscript: {type(second).__name__}: {second}") from None


def length_varies(model: Any, proto: Any, x: Any, axis: int) -> bool:
    """Whether the graph really takes another length on a dynamic sequence axis: some exports
    (an unrolled RNN) declare the axis dynamic yet bake the example's length in."""
    import numpy as np

    from dlcli.export.parity import compare, ort_session, run_both

    dim = proto.graph.input[0].type.tensor_type.shape.dim[1 + axis]
    if not dim.dim_param or x.shape[1 + axis] < 2:
        return False
    shorter = np.ascontiguousarray(np.take(x[:4], range(x.shape[1 + axis] - 1), axis=1 + axis))
    try:
        return compare(*run_both(model, ort_session(proto.SerializeToString()), shorter), 1e-4, 1e-3)["failed"] == 0
    except Exception:  # ONNX Runtime refusing the shape is the answer too
        return False


def export_model(model: Any, x: Any, opset: int, seq_axes: list[int], dynamic_batch: bool) -> tuple[Any, str, list[str]]:
    """(ModelProto, exporter, notes): sequence axes stay dynamic only where the graph honours it."""
    import torch

    example = torch.as_tensor(x[:2] if len(x) >= 2 else np.concatenate([x, x]))  # batch 1 would specialise
    proto, exporter, reason = to_onnx(model, example, opset, seq_axes, dynamic_batch)
    notes = [f"the dynamo exporter failed ({reason}); exported with the TorchScript exporter"] if reason else []
    fixed = [a for a in seq_axes if not length_varies(model, proto, x, a)]
    if fixed:
        proto, exporter, reason = to_onnx(model, example, opset, [a for a in seq_axes if a not in fixed], dynamic_batch)
        notes.append(f"sequence axis fixed at length {x.shape[1 + fixed[0]]}: the network needs that length")
    return proto, exporter, notes


def produced_opset(proto: Any) -> int:
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def finish_proto(proto: Any, card: Any) -> bytes:
    """Metadata in, onnx.checker passed, serialised (a single file: no external data)."""
    import onnx

    del proto.metadata_props[:]
    for key, value in card.to_props().items():
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = f"dlcli export of recipe {card.recipe}"
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        raise RunFailed(f"the exported model fails onnx.checker: {e}") from None
    return proto.SerializeToString()


def recipe_sha256(run: Path) -> str:
    return hashlib.sha256((Path(run) / "recipe.yaml").read_bytes()).hexdigest()
