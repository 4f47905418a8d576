"""Run directories: runs/<name>/<NNNN>/ that describe themselves.

recipe.yaml (resolved), run.json (the record), metrics.jsonl, splits.json, checkpoints/.
`eval`, `export`, `predict`, `check` and `--resume` read nothing but this folder.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from dlcli.errors import UsageError
from dlcli.fsio import named, write_atomic, write_json


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


def read_run_file(run: Path, name: str, still: str = "") -> Any:
    """A JSON file of a run directory (run.json, splits.json), or exit 2 naming the file and
    saying whether it is missing or damaged, and what still works without it (`still`)."""
    path = Path(run) / name
    tail = f"; {still}" if still else ""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path} is missing{tail}") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"{path} is damaged ({type(e).__name__}: {e}){tail}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is damaged (expected a JSON object, got {type(data).__name__}){tail}")
    return data


def read_record(run: Path, still: str = "") -> dict:
    """run.json of a run directory; exit 2 naming it when it is missing or damaged."""
    return read_run_file(run, "run.json", still)


def write_splits(run: Path, indices: dict, digest: str) -> None:
    write_json(run / "splits.json", {"digest": digest, **{k: [int(i) for i in v] for k, v in indices.items()}})


SPLIT_NAMES = ("train", "val", "test")


def read_splits(run: Path, still: str = "") -> dict:
    """splits.json as index arrays; exit 2 naming it when it is missing or damaged (`still`: what
    works without it)."""
    import numpy as np

    from dlcli.data.splits import splits_digest

    data = read_run_file(run, "splits.json", still)
    damaged = f"{Path(run) / 'splits.json'} is damaged"
    tail = f"; {still}" if still else ""
    for name in SPLIT_NAMES:
        indices = data.get(name)
        if not isinstance(indices, list) or not all(type(i) is int and i >= 0 for i in indices):
            raise UsageError(f"{damaged} ('{name}' is not a list of sample indices){tail}")
    splits = {k: np.asarray(data[k], dtype=np.int64) for k in SPLIT_NAMES}
    if "digest" in data and data["digest"] != splits_digest(splits):  # an edit or bit rot, not a split
        raise UsageError(f"{damaged} (its indices do not match the digest saved with them){tail}")
    return splits


def check_writable(folder: Path, what: str) -> None:
    """Exit 2 unless files can be created in `folder` (or in the folder that will hold it): a runs
    dir that is a file, or read-only, is refused before any training. Creates nothing."""
    folder = Path(folder)
    place = folder
    while not place.exists() and place != place.parent:
        place = place.parent
    if not place.is_dir():
        raise UsageError(f"{what} {folder} cannot be created: {place} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=place, prefix=".dlcli-probe.")
    except OSError as e:
        raise UsageError(f"{what} {folder} is not writable ({e.strerror or e}): choose another place, "
                         f"or fix its permissions") from None
    os.close(fd)
    os.unlink(probe)


def append_metrics(run: Path, record: dict) -> None:
    path = run / "metrics.jsonl"
    try:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
    except OSError as e:  # a failed write() names no file
        raise named(e, path) from e


def truncate_metrics(run: Path, last_epoch: int) -> None:
    """Drop epochs after the checkpoint a resumed run restarts from."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if _epoch_of(line) <= last_epoch]
    write_atomic(path, "".join(line + "\n" for line in keep))


def logged_epochs(run: Path) -> int:
    """How many whole epoch lines metrics.jsonl holds (0 when it is missing or unreadable)."""
    try:
        lines = (Path(run) / "metrics.jsonl").read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return 0
    return sum(1 for line in lines if _epoch_of(line) != float("inf"))


def _epoch_of(line: str) -> float:
    """A line's epoch; a line cut short by a crash counts as past every checkpoint."""
    try:
        return json.loads(line).get("epoch", 0)
    except ValueError:
        return float("inf")
