"""dlcli inspect: why a run's network trains and generalises, with a picture under RUN/plots/ and
the numbers behind it: gradient flow, linear regions, Hessian spectrum, loss landscape."""
from __future__ import annotations

from typing import Annotated

import typer

from dlcli.cli.options import Json, RunArg

EXAMPLE = ("Example: dlcli inspect runs/moons-relu/latest regions --bounds   |   "
           "dlcli inspect runs/deep-sigmoid/latest gradients   |   dlcli inspect runs/digits-cnn/latest spectrum --top 20   |   "
           "dlcli inspect runs/digits-mlp/latest landscape --grid 21")

What = Annotated[str, typer.Argument(help="gradients (needs the grad_flow callback), regions, spectrum or landscape.",
                                     show_default=False)]


def inspect(
    run: RunArg,
    what: What,
    plane: Annotated[str, typer.Option("--plane", help="regions: auto, input (2-D data) or 'i,j,k', the plane through three training samples.")] = "auto",
    bounds: Annotated[bool, typer.Option("--bounds", help="regions: also the theoretical upper bound (Zaslavsky for one hidden layer, Serra et al. for deeper ReLU MLPs).")] = False,
    top: Annotated[int, typer.Option("--top", help="spectrum: how many of the largest Hessian eigenvalues.")] = 20,
    grid: Annotated[int, typer.Option("--grid", help="landscape: points per axis of the interpolation and of the 2-D slice (at least 3).")] = 21,
    samples: Annotated[int, typer.Option("--samples", min=1, help="spectrum, landscape: training samples the loss is measured on.")] = 512,
    seed: Annotated[int, typer.Option("--seed", min=0, help="spectrum, landscape: seed of the samples, probes and directions.")] = 0,
    json: Json = False,
) -> None:
    """Look inside a trained run: gradient flow per layer, exact linear regions, Hessian spectrum (sloppiness), loss landscape."""
    from dlcli.errors import UsageError
    from dlcli.registry import closest

    if what not in SHOWN:
        hint = closest(what, list(SHOWN))
        raise UsageError(f"unknown analysis '{what}': use gradients, regions, spectrum or landscape"
                         + (f"; did you mean '{hint[0]}'?" if hint else ""))
    result = SHOWN[what][0](run, plane=plane, bounds=bounds, top=top, grid=grid, samples=samples, seed=seed)
    if json:
        from dlcli.report.console import print_json

        print_json(result)
        return
    SHOWN[what][1](result)


def run_gradients(run, **_):
    from dlcli.workflows.inspect import inspect_gradients

    return inspect_gradients(run)


def run_regions(run, plane, bounds, **_):
    from dlcli.workflows.inspect import inspect_regions

    return inspect_regions(run, plane, bounds)


def run_spectrum(run, top, samples, seed, **_):
    from dlcli.workflows.inspect import inspect_spectrum

    return inspect_spectrum(run, top, samples, seed)


def run_landscape(run, grid, samples, seed, **_):
    from dlcli.workflows.inspect import inspect_landscape

    return inspect_landscape(run, grid, samples, seed)


def show_gradients(result: dict) -> None:
    from rich.table import Table

    from dlcli.report.console import console, fmt_value, say

    for role, r in result["roles"].items():
        table = Table(title=f"gradient flow{' of ' + role if len(result['roles']) > 1 else ''}: medians over "
                            f"{r['records']} records, epochs {r['epochs'][0]}-{r['epochs'][-1]}")
        for col in ("layer", "kind", "grad norm", "weight norm", "update/weight", "verdict"):
            table.add_column(col, justify="left" if col in ("layer", "kind", "verdict") else "right")
        for row in r["layers"]:
            table.add_row(row["layer"], row["kind"], fmt_value(row["grad_norm"]), fmt_value(row["weight_norm"]),
                          "" if row["update_ratio"] is None else f"{row['update_ratio']:.2e}", row["verdict"])
        console().print(table)
        for line in r["findings"]:
            say(line)
    files(result)


def show_regions(result: dict) -> None:
    from dlcli.report.console import say

    say(f"{result['count']} linear regions on the {result['plane']} plane "
              f"({result['per_unit_area']:.4g} per unit area, box area {result['area']:.4g}); "
              f"a {result['grid_resolution']}x{result['grid_resolution']} grid finds {result['grid_count']}")
    b = result.get("bound")
    if b is not None:
        say(f"upper bound: {b['value']:,} ({b['name']}, hidden widths {b['hidden_widths']})" if b["value"] is not None
                  else f"upper bound: none ({b['why']})")
    files(result)


def show_spectrum(result: dict) -> None:
    from dlcli.report.console import say

    top = result["top_eigenvalues"]
    say(f"Hessian of the training loss on {result['samples']} samples, {result['parameters']:,} parameters")
    say(f"top {len(top)} eigenvalues: {', '.join(f'{v:.3g}' for v in top)}")
    say(f"they span {result['decades']:.2f} decades; trace {result['trace']:.4g} ± {result['trace_stderr']:.2g}; "
              f"{result['negative_eigenvalues']:.1%} of the spectral mass is negative")
    say(f"empirical Fisher: top {result['fisher_top'][0]:.3g}, spanning {result['fisher_decades']:.2f} decades")
    files(result)


def show_landscape(result: dict) -> None:
    import numpy as np

    from dlcli.report.console import say

    path = result["interpolation"]
    first, last = path["ends"]
    between = path["loss"][first:last + 1]
    say(f"loss from the initial (a=0) to the trained weights (a=1) on {result['samples']} samples: "
        f"{between[0]:.4g} -> {between[-1]:.4g}, highest on the way {max(between):.4g}")
    grid = np.asarray(result["slice"]["loss"])
    say(f"2-D slice ({grid.shape[0]}x{grid.shape[1]}, filter-normalised directions): centre "
        f"{result['slice']['center_loss']:.4g}, edges up to {grid.max():.4g}")
    files(result)


def files(result: dict) -> None:
    from dlcli.report.console import say

    say(f"wrote {', '.join(result['files'])}")


SHOWN = {"gradients": (run_gradients, show_gradients), "regions": (run_regions, show_regions),
         "spectrum": (run_spectrum, show_spectrum), "landscape": (run_landscape, show_landscape)}
