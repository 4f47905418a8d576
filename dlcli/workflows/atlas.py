"""`dlcli atlas RUN... | STUDY_DIR`: every recorded epoch of every run (every finished trial of a
study) as one point in prediction space, embedded by InPCA (analysis/inpca.py). The probe
callback recorded each epoch's predicted probabilities on the same seeded probe set; runs whose
probe sets differ cannot be compared and are refused."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from dlcli.analysis.records import epoch_files, read_json_record
from dlcli.engine import rundir
from dlcli.errors import UsageError

FINISHED = ("completed", "pruned", "stopped")  # statuses of runs that ended on their own terms
COMMAND = "dlcli atlas"


def is_study(path: Path) -> bool:
    return (Path(path) / "trials").is_dir()


def study_runs(study: Path) -> list[Path]:
    """A study's finished trials (their run.json says so), in trial order."""
    runs = []
    for trial in sorted(p for p in (Path(study) / "trials").iterdir() if p.is_dir()):
        try:
            status = rundir.read_json(trial / "run.json").get("status")
        except (OSError, ValueError):
            continue
        if status in FINISHED:
            runs.append(trial)
    if not runs:
        raise UsageError(f"{study} has no finished trials (trials/*/run.json with status {', '.join(FINISHED)}): "
                         f"run `dlcli tune` on its recipe first")
    return runs


def gather(paths: list[Path]) -> tuple[list[Path], Optional[Path]]:
    """(the runs, the study when one study was given alone)."""
    if not paths:
        raise UsageError("dlcli atlas needs run directories or a study directory")
    runs: list[Path] = []
    for p in paths:
        runs += study_runs(Path(p)) if is_study(Path(p)) else [rundir.open_run(p)]
    study = Path(paths[0]) if len(paths) == 1 and is_study(Path(paths[0])) else None
    return list(dict.fromkeys(runs)), study


def load_probes(run: Path) -> tuple[dict, list[int], np.ndarray]:
    """(probe.json, epochs, (epochs, N, C) float16 probabilities) of one run."""
    files = epoch_files(run, "probe", "npy", COMMAND)
    meta_path = Path(run) / "records" / "probe" / "probe.json"
    if not meta_path.is_file():
        raise UsageError(f"{meta_path} is missing: train the run again with the probe callback")
    meta = read_json_record(meta_path)
    try:
        probs = np.stack([np.load(f, allow_pickle=False) for _, f in files])
    except (OSError, ValueError) as e:
        raise UsageError(f"the probe records of {run} cannot be read ({e}); train the run again") from None
    return meta, [e for e, _ in files], probs


def same_probes(metas: dict[Path, dict]) -> None:
    """Every run predicted on the same samples (the digest of the probe inputs and labels)."""
    first_run, first = next(iter(metas.items()))
    for run, meta in metas.items():
        if meta["digest"] != first["digest"]:
            why = "a different number of probe samples" if meta["samples"] != first["samples"] else \
                "different probe samples (other data, split, or probe seed)"
            raise UsageError(f"{run} and {first_run} recorded {why}, so their predictions cannot be compared: "
                             f"give them the same data, data.split and probe arguments")


def recipe_value(run: Path, key: str) -> Any:
    """A dotted recipe key of a run's resolved recipe (train.optimizer.lr), or None."""
    from dlcli.recipe.yamlio import safe_load

    path = Path(run) / "recipe.yaml"
    node: Any = safe_load(path.read_text(), str(path))
    for part in key.split("."):
        if not (isinstance(node, dict) and part in node):
            return None
        node = node[part]
    return node if isinstance(node, (int, float, str, bool)) else (str(node) if node is not None else None)


def label_of(run: Path, runs: list[Path]) -> str:
    parents = {r.parent for r in runs}
    return run.name if len(parents) == 1 else f"{run.parent.name}/{run.name}"


def atlas(paths: list[Path], colour: str = "run", components: int = 3, out: Optional[Path] = None) -> dict:
    from dlcli.analysis.atlas_plot import draw_atlas
    from dlcli.analysis.inpca import embed

    runs, study = gather(paths)
    loaded = {run: load_probes(run) for run in runs}
    same_probes({run: meta for run, (meta, _, _) in loaded.items()})
    stacks, trajectories, start = [], [], 0
    for run, (meta, epochs, probs) in loaded.items():
        rows = list(range(start, start + len(epochs)))
        value = None if colour == "run" else recipe_value(run, colour)
        trajectories.append({"label": label_of(run, runs), "run": str(run), "rows": rows, "epochs": epochs, "value": value})
        stacks.append(probs)
        start += len(epochs)
    if colour != "run" and all(t["value"] is None for t in trajectories):
        raise UsageError(f"--colour {colour}: no run's recipe has that key (use a dotted key such as "
                         f"train.optimizer.lr, or run)")
    if start < 2:
        raise UsageError(f"an atlas needs at least two recorded epochs; {runs[0]} has {start}: train it for more "
                         f"epochs or give more runs")
    result = embed(np.concatenate(stacks), components=components)
    folder = out or default_folder(runs, study)
    folder.mkdir(parents=True, exist_ok=True)
    files = draw_atlas(np.asarray(result["coords"]), result["eigenvalues"], result["explained_stress"], trajectories,
                       folder, colour_by=colour)
    return {"runs": [str(r) for r in runs], "study": str(study) if study else None, "probe_samples":
            next(iter(loaded.values()))[0]["samples"], **result, "trajectories": trajectories,
            "files": [str(f) for f in files]}


def default_folder(runs: list[Path], study: Optional[Path]) -> Path:
    """The study's plots/, one run's plots/, or the plots/ of the folder the runs share."""
    if study is not None:
        return study / "plots"
    if len(runs) == 1:
        return runs[0] / "plots"
    return Path(os.path.commonpath([str(Path(r).resolve()) for r in runs])) / "plots"
