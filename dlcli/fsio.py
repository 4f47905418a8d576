"""Atomic file writes: a crash or Ctrl-C never leaves half a file behind."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write via a temp file in the same folder and rename, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise named(e, path) from e
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise named(e, path) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def named(error: OSError, path: Path) -> OSError:
    """The same error (same errno, so the same subclass) naming the file the caller asked for:
    a failed write() names no file, and a failed rename names the temp file."""
    if error.errno is None:
        return error
    return OSError(error.errno, error.strerror or str(error), str(path))


def describe_os_error(error: OSError) -> str:
    """"cannot write runs/x/run.json: No space left on device"."""
    what = error.strerror or str(error)
    return f"cannot write {error.filename}: {what}" if error.filename else f"a write failed: {what}"


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


class BackgroundWriter:
    """Atomic writes on one worker thread, in order, so training never waits on the disk.

    Callers hand over finished bytes (a consistent snapshot). `flush` waits for every write and
    re-raises the first error (an OSError naming the file); a loop calls it once per epoch,
    before handing over the next epoch's files, so a full disk stops the run one epoch later at
    most instead of at its end. After a failure every later write is dropped: files written
    after a lost one would no longer agree with each other (a best file newer than the state).
    """

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlcli-writer")
        self._pending: list = []
        self.failed: Optional[OSError] = None

    def write(self, path: Path, data: str | bytes) -> None:
        self._pending.append(self._pool.submit(self._write, path, data))

    def _write(self, path: Path, data: str | bytes) -> None:
        if self.failed is not None:
            return
        try:
            write_atomic(path, data)
        except OSError as e:
            self.failed = e
            raise

    def flush(self) -> None:
        """Wait for every write handed over so far; raise the first failure (once)."""
        pending, self._pending = self._pending, []
        errors = []
        for future in pending:
            error = future.exception()
            if error is not None:
                errors.append(error)
        if errors:
            raise errors[0]

    def drain(self) -> None:
        """Wait for every write, raising nothing: for a run that is already ending on an error."""
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - the error that ends the run is already on its way
            pass
