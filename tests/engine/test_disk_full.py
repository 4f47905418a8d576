"""A full disk during training: the first failed checkpoint write stops the run one epoch later at
most, exit 1 naming the file and the OS's reason, run.json 'failed' when it can still be written."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from tests.conftest import TINY

STATE = "last.state.safetensors"
ENOSPC = os.strerror(errno.ENOSPC)  # "No space left on device"


class FullFile:
    """A file on a full disk: opening works, every write fails the way write(2) does (no file name)."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.f.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def write(self, data):
        raise OSError(errno.ENOSPC, ENOSPC)


class FullDiskOs:
    """dlcli.fsio's `os` on a full disk: the real module, with writes that fail."""

    def __getattr__(self, name):
        return getattr(os, name)

    def fdopen(self, *args, **kwargs):
        return FullFile(os.fdopen(*args, **kwargs))


def fill_disk_at(monkeypatch, k: int, stays_full: bool, name: str = STATE) -> None:
    """The disk fills at the k-th write of `name` (the training state): that write fails, and with
    `stays_full` every write after it too (run.json included); otherwise space comes back."""
    from dlcli import fsio

    real, calls = fsio.write_atomic, [0]

    def write_atomic(path, data):
        if Path(path).name == name:
            calls[0] += 1
        if calls[0] == k and Path(path).name == name or stays_full and calls[0] >= k:
            monkeypatch.setattr(fsio, "os", FullDiskOs())
            try:
                return real(path, data)
            finally:
                monkeypatch.setattr(fsio, "os", os)
        return real(path, data)

    monkeypatch.setattr(fsio, "write_atomic", write_atomic)


def state_epoch(path: Path) -> int:
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    return json.loads(json.loads(blob[8:8 + n])["__metadata__"]["dlcli.state"])["epoch"]


def epochs_logged(run: Path) -> list:
    return [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()]


def recipe(write, epochs: int) -> Path:
    return write("tiny.yaml", TINY.replace("epochs: 2", f"epochs: {epochs}"))


def test_the_first_failed_write_stops_the_run_at_the_next_epoch(cli, write, tmp_path, monkeypatch):
    fill_disk_at(monkeypatch, 2, stays_full=False)  # epoch 2's state
    r = cli("train", recipe(write, 6), "--runs-dir", tmp_path / "runs")
    msg = " ".join(r.err.split())
    run = tmp_path / "runs" / "tiny" / "0001"
    assert r.code == 1 and "Traceback" not in r.err, r.err
    assert f"{run / 'checkpoints' / STATE}: {ENOSPC}" in msg and "training stopped at epoch 3" in msg, msg
    assert f"dlcli train --resume {run}" in msg
    assert epochs_logged(run) == [1, 2]  # not 6 epochs trained for nothing
    assert state_epoch(run / "checkpoints" / STATE) == 1
    assert not list((run / "checkpoints").glob(".*.tmp"))  # the failed write left no half file
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed" and ENOSPC in record["stop_reason"] and STATE in record["stop_reason"]


def test_a_disk_that_stays_full_still_ends_in_one_clear_message(cli, write, tmp_path, monkeypatch):
    fill_disk_at(monkeypatch, 2, stays_full=True)
    r = cli("train", recipe(write, 6), "--runs-dir", tmp_path / "runs")
    msg = " ".join(r.err.split())
    run = tmp_path / "runs" / "tiny" / "0001"
    assert r.code == 1 and "Traceback" not in r.err, r.err
    assert STATE in msg and ENOSPC in msg and "run.json could not be updated either" in msg, msg
    assert epochs_logged(run) == [1, 2]
    assert json.loads((run / "run.json").read_text())["status"] == "running"  # whole, not half-written


def test_a_failed_write_of_the_last_epoch_fails_the_run(cli, write, tmp_path, monkeypatch):
    fill_disk_at(monkeypatch, 2, stays_full=False)  # the last epoch's state: surfaces when training ends
    r = cli("train", recipe(write, 2), "--runs-dir", tmp_path / "runs")
    run = tmp_path / "runs" / "tiny" / "0001"
    assert r.code == 1 and STATE in r.err and "training stopped at epoch 2" in " ".join(r.err.split()), r.err
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed" and "metrics" not in record  # never evaluated as if complete


def test_after_space_comes_back_the_run_resumes(cli, write, tmp_path, monkeypatch):
    fill_disk_at(monkeypatch, 2, stays_full=False)
    assert cli("train", recipe(write, 3), "--runs-dir", tmp_path / "runs").code == 1
    monkeypatch.undo()
    run = tmp_path / "runs" / "tiny" / "0001"
    r = cli("train", "--resume", run, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["status"] == "completed" and epochs_logged(run) == [1, 2, 3]


def test_a_failed_metrics_line_names_metrics_jsonl(cli, write, tmp_path, monkeypatch):
    """metrics.jsonl is appended on the training thread, not by the background writer."""
    from dlcli.engine import rundir

    def full_open(path, mode="r", *args, **kwargs):
        f = open(path, mode, *args, **kwargs)
        return FullFile(f) if Path(path).name == "metrics.jsonl" and "a" in mode else f

    monkeypatch.setattr(rundir, "open", full_open, raising=False)
    r = cli("train", recipe(write, 2), "--runs-dir", tmp_path / "runs")
    run = tmp_path / "runs" / "tiny" / "0001"
    assert r.code == 1 and f"{run / 'metrics.jsonl'}: {ENOSPC}" in " ".join(r.err.split()), r.err
    assert "training stopped at epoch 1" in " ".join(r.err.split())
    assert json.loads((run / "run.json").read_text())["status"] == "failed"


def test_results_that_cannot_be_saved_fail_the_run(cli, write, tmp_path, monkeypatch):
    """run.json's third write is the final one, with the metrics (the first two: start, FLOPs)."""
    fill_disk_at(monkeypatch, 3, stays_full=True, name="run.json")
    r = cli("train", recipe(write, 2), "--runs-dir", tmp_path / "runs")
    msg = " ".join(r.err.split())
    assert r.code == 1 and "run.json" in msg and ENOSPC in msg and "could not be saved" in msg, r.err
    assert "Traceback" not in r.err
