"""Repair a study.journal cut by a crash mid-write, before anything appends to it.

Optuna's journal is one JSON record per line, appended under a lock file. A process killed in
the middle of an append leaves a last line without its newline; Optuna reads past it, but the
next append is glued onto it and the study can never be read again. So before a `dlcli tune`
starts its workers, under that same lock: a tail that is a whole record gets its newline back,
any other tail moves to a `.partial` side file, and a bad line inside the file is exit 2.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Optional

from dlcli.errors import UsageError
from dlcli.fsio import write_atomic


def repair(path: Path, note: Callable[[str], None]) -> None:
    """Make the journal at `path` safe to append to, saying on `note` what was changed."""
    from optuna.storages.journal import JournalFileSymlinkLock

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return
    # the lock JournalFileBackend takes by default: no worker of any machine appends meanwhile
    # (one left by the crash itself is taken over after Optuna's 30 s grace period)
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        message = fix_tail(path)
    finally:
        lock.release()
    if message:
        note(message)


def fix_tail(path: Path) -> Optional[str]:
    """Complete or cut off the bytes after the last newline; None when there were none."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    check_lines(path, data[:end])
    tail = data[end:]
    if not tail:
        return None
    if is_record(tail):  # cut just before its newline: nothing of it is lost
        with open(path, "ab") as f:
            f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())
        return f"{path}: its last record had lost its newline (a crash mid-write); completed it"
    side = side_file(path)
    write_atomic(side, tail)  # the bytes are kept before the journal lets go of them
    with open(path, "r+b") as f:
        f.truncate(end)
        os.fsync(f.fileno())
    return (f"{path}: dropped a partial last record ({len(tail)} bytes, from a crash mid-write); "
            f"the bytes are kept in {side}")


def check_lines(path: Path, data: bytes) -> None:
    """Exit 2 naming the first line that is not a journal record: Optuna cannot read past it."""
    for number, line in enumerate(data.split(b"\n")[:-1], start=1):  # as Optuna splits them
        if not is_record(line):
            raise UsageError(f"{path}: line {number} is not an Optuna journal record, so the study cannot be "
                             "read; move the file away to start the study afresh")


def is_record(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both
        return False


def side_file(path: Path) -> Path:
    """study.journal.partial, or .partial.2, .partial.3, ...: an earlier repair's bytes stay."""
    side, n = Path(f"{path}.partial"), 1
    while side.exists():
        n += 1
        side = Path(f"{path}.partial.{n}")
    return side

