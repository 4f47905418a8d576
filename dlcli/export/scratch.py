"""A private temporary folder for export (and predict's ONNX Runtime import), removed afterwards.

torch's exporter creates `torchinductor_<user>/` in the temp folder (inductor modules read their
cache folder on import) and ONNX Runtime writes a telemetry `.ses` file there when imported. On a
shared machine both outlive the command and belong to whoever ran first. For the duration of the
block TMPDIR, tempfile.tempdir and TORCHINDUCTOR_CACHE_DIR point at a fresh folder; the previous
values come back afterwards (torch pins TORCHINDUCTOR_CACHE_DIR in os.environ on first use, so
restoring means unsetting it when it was unset).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator

VARIABLES = ("TMPDIR", "TORCHINDUCTOR_CACHE_DIR")
ACTIVE: list[str] = []  # the folder of the outermost block in progress


@contextmanager
def private_tmpdir() -> Iterator[str]:
    """Nested uses share the outer folder, so an inner block never removes what an outer one uses."""
    if ACTIVE:
        yield ACTIVE[0]
        return
    saved = {name: os.environ.get(name) for name in VARIABLES}
    saved_tempdir = tempfile.tempdir  # before mkdtemp, which sets it
    folder = tempfile.mkdtemp(prefix="dlcli-export-")
    os.environ.update({"TMPDIR": folder, "TORCHINDUCTOR_CACHE_DIR": os.path.join(folder, "torchinductor")})
    tempfile.tempdir = folder
    ACTIVE.append(folder)
    try:
        yield folder
    finally:
        ACTIVE.clear()
        tempfile.tempdir = saved_tempdir
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)
