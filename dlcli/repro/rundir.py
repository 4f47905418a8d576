"""Run directories: runs/<name>/<NNNN>/ that describe themselves.

recipe.yaml (resolved), run.json (the record), metrics.jsonl, splits.json, checkpoints/.
`eval`, `export`, `predict`, `check` and `--resume` read nothing but this folder.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dlcli.errors import UsageError
from dlcli.fsio import write_atomic, write_json


def new_run_dir(root: Path, name: str) -> Path:
    """The next free runs/<name>/NNNN, created exclusively (safe with concurrent runs)."""
    parent = Path(root) / name
    parent.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name) for p in parent.iterdir() if p.name.isdigit()]
    n = max(taken, default=0) + 1
    while True:
        run = parent / f"{n:04d}"
        try:
            run.mkdir()
        except FileExistsError:
            n += 1
            continue
        point_latest(parent, run.name)
        return run


def make_run_dir(path: Path) -> Path:
    """A run directory at a given place (a search trial's); it must not hold a run already."""
    run = Path(path)
    run.mkdir(parents=True, exist_ok=True)
    if (run / "run.json").exists():
        raise UsageError(f"{run} already holds a run")
    return run


def point_latest(parent: Path, target: str) -> None:
    link, tmp = parent / "latest", parent / f".latest.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
    except OSError:  # file systems without symlinks: runs still work, only `latest` is missing
        pass


def open_run(path: Path | str) -> Path:
    """A run directory given on the command line, or exit 2 saying what is missing."""
    run = Path(path)
    if not run.is_dir():
        raise UsageError(f"run directory not found: {run}")
    if not (run / "recipe.yaml").is_file():
        raise UsageError(f"{run} is not a run directory: recipe.yaml is missing")
    return run


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def write_splits(run: Path, indices: dict, digest: str) -> None:
    write_json(run / "splits.json", {"digest": digest, **{k: [int(i) for i in v] for k, v in indices.items()}})


def read_splits(run: Path) -> dict:
    import numpy as np

    data = read_json(run / "splits.json")
    return {k: np.asarray(v, dtype=np.int64) for k, v in data.items() if k != "digest"}


def append_metrics(run: Path, record: dict) -> None:
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def truncate_metrics(run: Path, last_epoch: int) -> None:
    """Drop epochs after the checkpoint a resumed run restarts from."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if _epoch_of(line) <= last_epoch]
    write_atomic(path, "".join(line + "\n" for line in keep))


def _epoch_of(line: str) -> float:
    """A line's epoch; a line cut short by a crash counts as past every checkpoint."""
    try:
        return json.loads(line).get("epoch", 0)
    except ValueError:
        return float("inf")
