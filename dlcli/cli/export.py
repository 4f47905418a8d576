"""dlcli export: model.onnx from a run's evaluated checkpoint (best or last epoch), verified against PyTorch."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli.options import Json, RunArg
from dlcli.opsets import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET

EXAMPLE = "Example: dlcli export runs/digits-cnn/latest --opset 18 --json"


def export(
    run: RunArg,
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write the model (default RUN/model.onnx).")] = None,
    opset: Annotated[Optional[int], typer.Option("--opset", help=f"ONNX opset, {MIN_OPSET} to {MAX_OPSET} (default: the recipe's export.onnx.opset, {DEFAULT_OPSET}).")] = None,
    no_check: Annotated[bool, typer.Option("--no-check", help="Skip the ONNX Runtime vs PyTorch parity gate.")] = False,
    json: Json = False,
) -> None:
    """Export a run's evaluated checkpoint (best epoch, or last with train.eval: last) to ONNX (preprocessing
    inside) and check it against PyTorch (exit 1 on a mismatch)."""
    from dlcli.workflows.export import export_run
    from dlcli.report.console import print_json

    report = export_run(run, out, opset, check=not no_check)
    if json:
        print_json(report)
        return
    describe(report)


def describe(report: dict) -> None:
    """The export report in words: where, how, and how closely ONNX Runtime matches PyTorch;
    one paragraph per module for a run that exports several (encoder.onnx, decoder.onnx, ...)."""
    for one in report.get("modules", {"model": report}).values():
        describe_one(one)


def describe_one(report: dict) -> None:
    from dlcli.report.console import console

    con = console()
    for note in report["notes"]:
        con.print(note)
    con.print(f"wrote {report['file']} ({report['bytes']:,} bytes, opset {report['opset']}, "
              f"{report['exporter']} exporter, {report['export_seconds']:.1f} s)")
    parity = report.get("parity")
    if parity:
        con.print(f"parity with PyTorch: passed on {parity['samples']} held-out samples at batch sizes "
                  f"{', '.join(map(str, parity['batches']))}: max |diff| {parity['max_abs']:.2e}, "
                  f"max rel {parity['max_rel']:.2e} (atol {parity['atol']:g}, rtol {parity['rtol']:g})")
