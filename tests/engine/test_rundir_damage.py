"""Damaged run directories: every command names the file, says what still works, exit 2, no traceback."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import TINY

STATE = "checkpoints/last.state.safetensors"
BEST = "checkpoints/best.safetensors"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One finished tiny iris run, trained once; each test damages its own copy."""
    from dlcli.workflows.train import run_training
    from dlcli.report.console import TrainReporter

    root = tmp_path_factory.mktemp("damage")
    recipe = root / "tiny.yaml"
    recipe.write_text(TINY.lstrip())
    return Path(run_training(recipe, None, [], root / "runs", TrainReporter(quiet=True))["run"])


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def truncate(path: Path) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])


def damage(run: Path, name: str, how: str) -> None:
    path = run / name
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        truncate(path)
    else:  # a file from another tool where a run file belongs
        path.write_text("<html>not what dlcli wrote</html>\n")


def command(name: str, run: Path) -> tuple:
    return {"eval": ("eval", run), "export": ("export", run), "resume": ("train", "--resume", run)}[name]


def one_line(text: str) -> str:
    return " ".join(text.split())


def assert_refused(r, *needles: str) -> None:
    msg = one_line(r.err)
    assert r.code == 2, r.err
    assert "Traceback" not in r.err and "JSONDecodeError" not in r.err.split(":")[0]
    for needle in needles:
        assert needle in msg, msg


@pytest.mark.parametrize("how", ["deleted", "truncated", "foreign"])
@pytest.mark.parametrize("cmd", ["export", "resume"])
def test_a_damaged_run_json_is_exit_2_naming_it(cli, run, cmd, how):
    damage(run, "run.json", how)
    before = (run / "recipe.yaml").read_text()
    r = cli(*command(cmd, run), "--set", "train.epochs=3") if cmd == "resume" else cli(*command(cmd, run))
    assert_refused(r, "run.json is missing" if how == "deleted" else "run.json is damaged", "dlcli eval")
    assert (run / "recipe.yaml").read_text() == before  # a refused resume changes nothing
    assert not (run / "model.onnx").exists()


@pytest.mark.parametrize("how", ["deleted", "truncated"])
def test_eval_carries_on_without_run_json_and_says_so(cli, run, how):
    damage(run, "run.json", how)
    r = cli("eval", run, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["metrics"]["accuracy"] >= 0  # stdout stays one JSON document
    assert "warning" in r.err and "run.json" in r.err and "carries on" in one_line(r.err)


@pytest.mark.parametrize("how", ["deleted", "truncated", "foreign"])
@pytest.mark.parametrize("cmd", ["eval", "export", "resume"])
def test_a_damaged_splits_json_is_exit_2_naming_it(cli, run, cmd, how):
    damage(run, "splits.json", how)
    r = cli(*command(cmd, run))
    assert_refused(r, "splits.json is missing" if how == "deleted" else "splits.json is damaged")


def test_splits_edited_by_hand_do_not_match_their_digest(cli, run):
    splits = json.loads((run / "splits.json").read_text())
    splits["test"], splits["train"] = splits["train"][:5], splits["train"][5:] + splits["test"]
    (run / "splits.json").write_text(json.dumps(splits))
    assert_refused(cli("eval", run), "splits.json", "digest")


@pytest.mark.parametrize("how", ["truncated", "foreign"])
@pytest.mark.parametrize("cmd", ["eval", "export"])
def test_a_damaged_best_checkpoint_is_exit_2_naming_it(cli, run, cmd, how):
    damage(run, BEST, how)
    assert_refused(cli(*command(cmd, run)), "best.safetensors is damaged", "run.json, metrics.jsonl) is intact")


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """A run of the same data with a wider first layer: its checkpoints fit no tiny run."""
    from dlcli.workflows.train import run_training
    from dlcli.report.console import TrainReporter

    root = tmp_path_factory.mktemp("wide")
    recipe = root / "wide.yaml"
    recipe.write_text(TINY.replace("linear: 8", "linear: 32").lstrip())
    return Path(run_training(recipe, None, [], root / "runs", TrainReporter(quiet=True))["run"])


@pytest.mark.parametrize("cmd", ["eval", "export", "resume"])
def test_a_checkpoint_of_another_network_is_a_short_exit_2(cli, run, wide, cmd):
    name = STATE if cmd == "resume" else BEST
    shutil.copy(wide / name, run / name)
    before = {p: (run / p).read_bytes() for p in ("recipe.yaml", "run.json", "metrics.jsonl")}
    r = cli(*command(cmd, run), *(["--set", "train.epochs=3"] if cmd == "resume" else []))
    assert_refused(r, Path(name).name, "does not fit the network", "net.0.weight is [32, 4] in the file, [8, 4]")
    assert len(r.err) < 1000 and "size mismatch" not in r.err  # a summary, not torch's dump
    assert {p: (run / p).read_bytes() for p in before} == before


@pytest.mark.parametrize("how", ["truncated", "foreign"])
def test_a_damaged_training_state_is_exit_2_and_changes_nothing(cli, run, how):
    damage(run, STATE, how)
    before = (run / "recipe.yaml").read_text()
    r = cli("train", "--resume", run, "--set", "train.epochs=3")
    assert_refused(r, "last.state.safetensors is damaged", "dlcli eval")
    assert (run / "recipe.yaml").read_text() == before


def test_a_best_file_where_the_state_belongs_is_damaged_not_a_keyerror(cli, run):
    shutil.copy(run / BEST, run / STATE)  # a safetensors file, but no training state in it
    assert_refused(cli("train", "--resume", run), "last.state.safetensors is damaged")


def test_a_missing_training_state_restarts_from_epoch_1_and_says_so(cli, run):
    (run / STATE).unlink()
    r = cli("train", "--resume", run, "--json")
    assert r.code == 0, r.err
    msg = one_line(r.err)
    assert "last.state.safetensors is missing" in msg and "epoch 1" in msg and "2 epochs" in msg
    assert json.loads(r.out)["epochs_completed"] == 2


def test_a_runs_dir_that_is_a_file_is_exit_2_before_training(cli, write, tmp_path, monkeypatch):
    import dlcli.engine.train as train_module

    (tmp_path / "runs").write_text("not a folder")
    monkeypatch.setattr(train_module, "build_fit", lambda *a, **k: pytest.fail("trained into a file"))
    r = cli("train", write("tiny.yaml", TINY), "--runs-dir", tmp_path / "runs" / "deeper")
    assert_refused(r, "--runs-dir", str(tmp_path / "runs"), "is a file")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_runs_dir_is_exit_2_before_training(cli, write, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    runs.chmod(0o555)
    try:
        r = cli("train", write("tiny.yaml", TINY), "--runs-dir", runs)
    finally:
        runs.chmod(0o755)
    assert_refused(r, "--runs-dir", "not writable")
    assert not list(runs.iterdir())


def test_a_runs_dir_the_os_refuses_to_write_is_exit_2_before_training(cli, write, tmp_path, monkeypatch):
    """The same refusal where permissions cannot be tested (as root): the OS says no to the probe."""
    import tempfile

    import dlcli.engine.train as train_module

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(train_module, "build_fit", lambda *a, **k: pytest.fail("trained without a place to write"))
    r = cli("train", write("tiny.yaml", TINY), "--runs-dir", tmp_path / "runs")
    assert_refused(r, "--runs-dir", "not writable", "Permission denied")
    assert not (tmp_path / "runs").exists()


def test_a_data_file_that_shrank_since_the_split_is_exit_2(cli, tmp_path):
    import numpy as np

    csv = tmp_path / "d.csv"
    rows = np.random.default_rng(0).normal(size=(60, 3))
    csv.write_text("a,b,y\n" + "".join(f"{r[0]:.4f},{r[1]:.4f},{int(r[2] > 0)}\n" for r in rows))
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: shrink\ndata: {source: {type: csv, path: d.csv, target: y}}\n"
                      "model: [{linear: 4}, relu, {linear: auto}]\ntrain: {epochs: 1, batch_size: 16}\n")
    assert cli("train", recipe, "--runs-dir", tmp_path / "runs").code == 0
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:31]))  # 30 rows left
    r = cli("eval", tmp_path / "runs" / "shrink" / "0001")
    assert r.code == 2 and "data now has 30 rows" in r.err and "Traceback" not in r.err
