"""dlcli ls (every vocabulary with its docstrings) and dlcli doctor (what would run where)."""
from __future__ import annotations

from typing import Annotated

import typer

from dlcli.cli.options import Json

EXAMPLE = "Example: dlcli ls layers   |   dlcli ls optimizers --json"
DOCTOR_EXAMPLE = "Example: dlcli doctor --json"


def vocabularies() -> dict:
    """Vocabulary name -> registry; importing the packages fills them (no torch)."""
    import dlcli.data as data
    import dlcli.nn as nn
    import dlcli.tasks as tasks_pkg
    from dlcli.engine.optimizers import optimizers
    from dlcli.engine.schedules import schedules
    from dlcli.search.pruners import pruners
    from dlcli.search.samplers import samplers
    from dlcli.tasks.losses import losses
    from dlcli.tasks.metrics import metrics

    return {"layers": nn.layers, "architectures": nn.architectures, "initializers": nn.initializers,
            "datasets": data.sources, "augmentations": data.augmentations, "normalizations": data.normalizers,
            "optimizers": optimizers, "schedules": schedules, "losses": losses, "metrics": metrics,
            "tasks": tasks_pkg.tasks, "samplers": samplers, "pruners": pruners}


def ls(
    vocabulary: Annotated[str, typer.Argument(help="layers, architectures, initializers, datasets, augmentations, "
                                              "normalizations, optimizers, schedules, losses, metrics, tasks, samplers or pruners.")],
    json: Json = False,
) -> None:
    """List the names a recipe may use for one vocabulary, each with its description."""
    from rich.table import Table

    from dlcli.errors import UsageError
    from dlcli.registry import UnknownName, closest
    from dlcli.report.console import console, print_json

    vocab = vocabularies()
    if vocabulary not in vocab:
        near = closest(vocabulary, list(vocab))
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise UsageError(f"unknown vocabulary '{vocabulary}'{hint} (one of: {', '.join(vocab)})")
    docs = vocab[vocabulary].docs()
    if json:
        print_json(docs)
        return
    table = Table(title=vocabulary)
    table.add_column("name")
    table.add_column("description")
    for name, doc in docs.items():
        table.add_row(name, doc)
    console().print(table)


def doctor(json: Json = False) -> None:
    """Report versions and devices: what a recipe with device auto would run on."""
    from dlcli.engine.device import autocast_dtype, pick_device
    from dlcli.repro.env import device_info, versions
    from dlcli.report.console import console, print_json

    import torch

    device = pick_device("auto")
    report = {"versions": versions(), "device": device_info(device),
              "precision": str(autocast_dtype(device, "auto") or "float32"),
              "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}
    if json:
        print_json(report)
        return
    for key, value in {**report["versions"], "device": device.type, "precision": report["precision"],
                       "threads": report["device"]["threads"], "cuda devices": len(report["cuda_devices"])}.items():
        console().print(f"{key:>12}: {value}")
