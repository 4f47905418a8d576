"""dlcli atlas: the prediction-space map (InPCA) of training trajectories of runs or a study."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli.options import Json

EXAMPLE = ("Example: dlcli atlas runs/moons-mlp/0001 runs/moons-cnn/0001   |   "
           "dlcli atlas studies/digits-mlp-tune --colour train.optimizer.lr")


def atlas(
    paths: Annotated[list[Path], typer.Argument(help="Run directories (each trained with the probe callback) or one study directory.", show_default=False)],
    colour: Annotated[str, typer.Option("--colour", "--color", help="run, or a dotted recipe key whose value colours each trajectory (train.optimizer.lr).")] = "run",
    components: Annotated[int, typer.Option("--components", min=2, help="How many InPCA components to keep and report.")] = 3,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for atlas.png/.csv/.json (default: the study's plots/, the run's plots/, or the plots/ of the folder the runs share).", show_default=False)] = None,
    json: Json = False,
) -> None:
    """Embed every recorded epoch of the runs by InPCA on their probe predictions and draw the trajectories."""
    from dlcli.report.console import print_json, say
    from dlcli.workflows.atlas import atlas as make_atlas

    result = make_atlas(paths, colour, components, out)
    if json:
        print_json(result)
        return
    stress = result["explained_stress"]
    say(f"{len(result['runs'])} runs, {result['points']} points (run x epoch), {result['probe_samples']} probe samples")
    say(f"eigenvalues {', '.join(f'{v:+.3g}' for v in result['eigenvalues'][:len(stress)])}; the top "
              f"{len(stress)} components explain {stress[-1]:.1%} of the stress ({', '.join(f'{s:.1%}' for s in stress)})")
    say(f"wrote {', '.join(result['files'])}")
