"""What the recorders (engine/recorders.py) left in a run directory, read back with a message that
names the callback to add when it is missing."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dlcli.errors import UsageError


def missing(run: Path, callback: str, command: str) -> UsageError:
    return UsageError(f"{run} has no {callback} records, which `{command}` reads: add `{callback}` to "
                      f"train.callbacks in its recipe and train again (the records are in records/{callback}/)")


def epoch_files(run: Path, callback: str, ext: str, command: str) -> list[tuple[int, Path]]:
    """(epoch, file) of every recorded epoch, in order; only epochs metrics.jsonl has logged
    (a resumed run may have left records of epochs it trained again)."""
    from dlcli.engine.rundir import logged_epochs

    folder = Path(run) / "records" / callback
    files = sorted(folder.glob(f"epoch-*.{ext}")) if folder.is_dir() else []
    last = logged_epochs(run)
    found = [(int(f.stem.split("-")[1]), f) for f in files if f.stem.split("-")[1].isdigit()]
    found = [(e, f) for e, f in found if e <= last]
    if not found:
        raise missing(run, callback, command)
    return found


def read_json_record(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"{path} cannot be read ({e}): train the run again with its callbacks") from None
