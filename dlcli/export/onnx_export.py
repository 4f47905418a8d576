"""Export a run's best checkpoint to one self-contained .onnx file, then gate it on parity.

The exported graph is the whole saved Pipeline: the reshape raw inputs need, the normalisation
fitted on the train split, the network and, for regression, the target scaling. So raw inputs
go in and nothing outside the file can disagree with training.
"""
from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from typing import Any, Optional

import numpy as np

from dlcli.errors import RunFailed, UsageError
from dlcli.export.graph_passes import portable
from dlcli.export.scratch import private_tmpdir
from dlcli.opsets import MAX_OPSET, MIN_OPSET, TORCHSCRIPT_MAX_OPSET, producible, refusal

SHOWN = {"dynamo": "dynamo", "torchscript": "TorchScript"}


def opset_range() -> tuple[int, int]:
    """The opsets dlcli exports (dlcli.opsets says why these)."""
    return MIN_OPSET, MAX_OPSET


def check_opset(opset: int) -> None:
    if not producible(opset):
        raise UsageError(refusal(opset))


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


def per_input(seq_axes: list, inputs: int) -> list[list[int]]:
    """Sequence axes per input: `[0]` (the first input's axis 0) or `[[0], [0]]` (one list per input)."""
    if seq_axes and isinstance(seq_axes[0], (list, tuple)):
        return [list(a) for a in seq_axes] + [[] for _ in range(inputs - len(seq_axes))]
    return [list(seq_axes)] + [[] for _ in range(inputs - 1)]


def dynamic_shapes(seq_axes: list, dynamic_batch: bool, inputs: int = 1) -> Optional[tuple]:
    """Batch axis dynamic when asked; sequence axes (per-sample indices) dynamic where the
    network allows it (Dim.AUTO keeps an axis fixed when the network needs a fixed length)."""
    import torch

    shapes = []
    for axes in per_input(seq_axes, inputs):
        dims: dict[int, Any] = {1 + axis: torch.export.Dim.AUTO for axis in axes}
        if dynamic_batch:
            dims[0] = torch.export.Dim.DYNAMIC
        shapes.append(dims or None)
    return tuple(shapes) if any(shapes) else None


def export_dynamo(model: Any, example: Any, opset: int, shapes: Optional[tuple]) -> Any:
    import torch

    with quiet_exporter():
        program = torch.onnx.export(model, example, dynamo=True, opset_version=opset,
                                    dynamic_shapes=shapes, verbose=False, optimize=True)
    return program.model_proto


def export_torchscript(model: Any, example: Any, opset: int, seq_axes: list[int], dynamic_batch: bool) -> Any:
    import io

    import onnx
    import torch

    from dlcli.export import torchscript13

    if opset == 13:
        torchscript13.register()
    names = ["x"] + [f"x{i}" for i in range(1, len(example))]
    dynamic: dict = {"y": {0: "batch"}} if dynamic_batch else {}
    for i, (name, axes) in enumerate(zip(names, per_input(seq_axes, len(example)))):
        dims = {1 + a: f"length{i}_{a}" if i else f"length{a}" for a in axes}
        dims.update({0: "batch"} if dynamic_batch else {})
        if dims:
            dynamic[name] = dims
    dynamic = dynamic or None
    buf = io.BytesIO()
    with quiet_exporter():
        torch.onnx.export(model, example, buf, dynamo=False, opset_version=opset, input_names=names,
                          output_names=["y"], dynamic_axes=dynamic)
    return onnx.load_from_string(buf.getvalue())


def first_line(e: Exception) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def unusable(proto: Any, x: Any, opset: int) -> Optional[str]:
    """Why an exporter's graph cannot be the export (another opset, a failed check, ONNX Runtime
    refusing it), or None. Numbers are for the parity gate to judge, not for this."""
    import onnx

    from dlcli.export.parity import ort_session

    produced = produced_opset(proto)
    if produced != opset:  # torch keeps its native opset when the version converter gives up
        return (f"could not write opset {opset} (it wrote {produced}: its version converter cannot take "
                "this graph there)")
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        return f"wrote a graph that fails onnx.checker ({first_line(e)})"
    try:
        session = ort_session(proto.SerializeToString())
        session.run(None, {i.name: v[:2] for i, v in zip(session.get_inputs(), as_inputs(x))})
    except Exception as e:  # ONNX Runtime raises its own types
        return f"wrote a graph that ONNX Runtime cannot run ({first_line(e)})"
    return None


def attempts(model: Any, example: Any, opset: int, seq_axes: list[int], dynamic_batch: bool,
             first: str = "dynamo") -> list[tuple[str, Any]]:
    """(exporter, how to call it) in the order they are tried, from `first` on: the dynamo exporter
    writes better graphs; the TorchScript one reaches opsets below 18 where its converter cannot."""
    shapes = dynamic_shapes(seq_axes, dynamic_batch, len(example))
    out = [("dynamo", lambda: export_dynamo(model, example, opset, shapes))]
    if opset <= TORCHSCRIPT_MAX_OPSET:
        out.append(("torchscript", lambda: export_torchscript(model, example, opset, seq_axes, dynamic_batch)))
    return out[[name for name, _ in out].index(first):]


def to_onnx(model: Any, example: Any, x: Any, opset: int, seq_axes: list[int], dynamic_batch: bool,
            first: str = "dynamo") -> tuple[Any, str, list[str]]:
    """(ModelProto at `opset`, exporter used, notes on exporters passed over); RunFailed when none can."""
    failures: list[tuple[str, str]] = []
    for name, export in attempts(model, example, opset, seq_axes, dynamic_batch, first):
        try:
            proto = export()
        except Exception as e:  # any failure of one exporter: the next may still cope
            failures.append((name, f"failed ({first_line(e)})"))
            continue
        why = unusable(proto, x, opset)
        if why is None:
            return proto, name, [f"the {n} exporter {reason}; exported with the {SHOWN[name]} exporter"
                                 for n, reason in failures]
        failures.append((name, why))
    if opset > TORCHSCRIPT_MAX_OPSET:
        failures.append(("torchscript", f"writes opsets up to {TORCHSCRIPT_MAX_OPSET} only"))
    raise RunFailed(f"ONNX export at opset {opset} failed with both exporters; "
                    + "; ".join(f"{n}: {reason}" for n, reason in failures))


def length_varies(model: Any, proto: Any, x: Any, i: int, axis: int) -> bool:
    """Whether the graph really takes another length on input i's dynamic sequence axis: some
    exports (an unrolled RNN) declare the axis dynamic yet bake the example's length in."""
    from dlcli.export.parity import compare, ort_session, run_both

    xs = [v[:4] for v in as_inputs(x)]
    if not declared_dynamic(proto, i, axis) or xs[i].shape[1 + axis] < 2:
        return False
    xs[i] = np.ascontiguousarray(np.take(xs[i], range(xs[i].shape[1 + axis] - 1), axis=1 + axis))
    try:
        ran = run_both(model, ort_session(proto.SerializeToString()), tuple(xs) if len(xs) > 1 else xs[0])
        return compare(*ran, 1e-4, 1e-3)["failed"] == 0
    except Exception:  # ONNX Runtime refusing the shape is the answer too
        return False


def declared_dynamic(proto: Any, i: int, axis: int) -> bool:
    return bool(proto.graph.input[i].type.tensor_type.shape.dim[1 + axis].dim_param)


def export_model(model: Any, x: Any, opset: int, seq_axes: list,
                 dynamic_batch: bool) -> tuple[Any, str, list[str]]:
    """(ModelProto at exactly `opset`, exporter, notes) of a module on example inputs `x` (an array,
    or a tuple of arrays for several inputs; `seq_axes` then one list per input): sequence axes stay
    dynamic only where the graph honours it; the exporters' scratch files go to a private temp folder,
    removed after."""
    import torch

    with private_tmpdir():
        # batch 1 would specialise the batch axis
        # contiguous: a strided example (a recurrent layer's output) makes dynamo trace stride queries ONNX lacks
        example = tuple(torch.as_tensor(np.ascontiguousarray(v[:2] if len(v) >= 2 else np.concatenate([v, v])))
                        for v in as_inputs(x))
        axes = per_input(seq_axes, len(example))
        proto, exporter, notes = to_onnx(model, example, x, opset, axes, dynamic_batch)
        baked = [(i, a) for i, ax in enumerate(axes) for a in ax
                 if declared_dynamic(proto, i, a) and not length_varies(model, proto, x, i, a)]
        if baked:  # declared dynamic yet the example's length is baked in: say so in the graph
            kept = [[a for a in ax if (i, a) not in baked] for i, ax in enumerate(axes)]
            proto, exporter, again = to_onnx(model, example, x, opset, kept, dynamic_batch, first=exporter)
            notes += [n for n in again if n not in notes]
        fixed = [(i, a) for i, ax in enumerate(axes) for a in ax if not declared_dynamic(proto, i, a)]
        if fixed:
            why = "the network needs that length" if exporter == "dynamo" else "the TorchScript exporter fixed it"
            i, a = fixed[0]
            notes.append(f"sequence axis fixed at length {as_inputs(x)[i].shape[1 + a]}: {why}")
    return portable(proto), exporter, notes


def as_inputs(x: Any) -> tuple:
    """A module's example inputs as a tuple of arrays: one array for most, several for a module
    with more than one input (a conditional generator's noise and label)."""
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


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
