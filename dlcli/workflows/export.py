"""`dlcli export`, and `dlcli train`'s export when the recipe asks: a run directory in, its
modules' .onnx files and parity reports out (recorded in run.json). The ONNX mechanics are
export/'s; this reads the run (run.json, recipe.yaml, its checkpoint) and records the result."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Optional

from dlcli.errors import RunFailed

EXPORT_STILL = "`dlcli eval` still works on its checkpoints, but an export is recorded in run.json"


def export_run(run_dir: Path, out: Optional[Path] = None, opset: Optional[int] = None, check: bool = True) -> dict:
    """Export every module the run's task exports (model.onnx; encoder.onnx and decoder.onnx; ...)
    from the weights the run evaluated (run.json's, else its recipe's train.eval); exit 1
    (RunFailed) on a parity mismatch, after saving the files and the report, so the evidence stays
    for inspection. A missing or damaged run.json, or a folder it cannot write, is exit 2 up front.
    One module: its report; several: {"modules": {stem: report}}."""
    from dlcli.engine import rundir
    from dlcli.errors import UsageError
    from dlcli.export import onnx_export as ox
    from dlcli.export.module_export import export_module
    from dlcli.export.parity import mismatch_message
    from dlcli.recipe.schema import Onnx
    from dlcli.workflows.runs import load_run

    run = rundir.open_run(run_dir)
    record = rundir.read_record(run, EXPORT_STILL)
    rundir.check_writable(run, "the run directory")
    if out is not None:
        rundir.check_writable(Path(out).parent, "the --out folder")
    run, s = load_run(run, evaluated_tag(record))
    spec = (s.resolved.recipe.export.onnx if s.resolved.recipe.export else None) or Onnx()
    opset = opset or spec.opset
    ox.check_opset(opset)
    s.model.to("cpu").eval()
    modules = s.task.export_modules(s)
    refuse_fixed_lengths(run, s, modules)
    if out is not None and len(modules) > 1:
        raise UsageError(f"{run} exports {len(modules)} modules ({', '.join(f'{m}.onnx' for m in modules)}): "
                         f"--out names one file; leave it out to write them in the run directory")
    tag = evaluated_tag(record) or s.resolved.recipe.train.eval
    sha, weights = recipe_sha256(run), f"checkpoints/{tag}.safetensors"
    reports = {stem: export_module(s, sha, stem, em, Path(out) if out else run / f"{stem}.onnx", opset, spec, check,
                                   weights) for stem, em in modules.items()}
    report = next(iter(reports.values())) if len(reports) == 1 else {"modules": reports}
    _record(run, report)
    failed = [r for r in reports.values() if check and not r["parity"]["passed"]]
    if failed:
        raise RunFailed(mismatch_message(failed[0]["parity"]))
    return report


def refuse_fixed_lengths(run: Path, s: Any, modules: dict) -> None:
    """A layer that unrolls its time loop gives a graph of one sequence length; a task that runs
    its model at several (decoding, sampling) cannot use it: say so before minutes of exporting."""
    from dlcli.errors import UsageError, dotted
    from dlcli.nn.model import all_nodes

    if not any(em.more_inputs for em in modules.values()):
        return
    for name, plan in s.resolved.parts.plans.items():
        for node in all_nodes(plan.nodes):
            if node.layer.unrolls_time:
                raise UsageError(f"{run} cannot be exported: `{node.name}` ({dotted(node.path)}) steps through time in Python, so an "
                                 f"exported graph fixes the sequence length, and a {s.resolved.task} run runs its "
                                 f"model at many lengths (decoding, sampling); use it from PyTorch (dlcli eval, "
                                 f"dlcli sample) or use a recurrent layer (lstm, gru) to export")


def recipe_sha256(run: Path) -> str:
    """The hash of the run's resolved recipe.yaml, which every model card carries."""
    return hashlib.sha256((Path(run) / "recipe.yaml").read_bytes()).hexdigest()


def evaluated_tag(record: dict) -> Optional[str]:
    """"best" or "last": which checkpoint the run's final metrics came from (None: not recorded)."""
    name = Path(str((record.get("weights") or {}).get("file", ""))).name
    return {"best.safetensors": "best", "last.safetensors": "last"}.get(name)


def _record(run: Path, report: dict) -> None:
    from dlcli.engine.train import update_record

    update_record(run, export=report)
