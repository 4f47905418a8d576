"""`dlcli train --resume RUN --set ...`: overrides that the saved state cannot follow are refused up
front (exit 2, naming the key) and leave the run exactly as it was; the others apply, and are
written to the run's recipe.yaml only once the state has loaded."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import TINY

FILES = ("recipe.yaml", "run.json", "metrics.jsonl", "splits.json", "checkpoints/best.safetensors",
         "checkpoints/last.state.safetensors")


def trained_run(root: Path, text: str) -> Path:
    from dlcli.workflows.train import run_training
    from dlcli.report.console import TrainReporter

    recipe = root / "tiny.yaml"
    recipe.write_text(text.lstrip())
    return Path(run_training(recipe, None, [], root / "runs", TrainReporter(quiet=True))["run"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_run(tmp_path_factory.mktemp("guard"), TINY)


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def snapshot(run: Path) -> dict:
    return {name: (run / name).read_bytes() for name in FILES}


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_an_override_that_changes_the_network_is_refused_and_changes_nothing(cli, run):
    before = snapshot(run)
    r = cli("train", "--resume", run, "--set", "model.0.linear=32")
    msg = one_line(r.err)
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert "--set model.0.linear=32" in msg and "model[0].linear" in msg and "a resume cannot change" in msg
    assert "train.epochs" in msg  # says what a resume may change
    assert "size mismatch" not in r.err
    assert snapshot(run) == before
    assert cli("eval", run).code == 0  # the run still works
    assert cli("train", "--resume", run).code == 0


@pytest.mark.parametrize("override, key", [
    ("seed=1", "seed"),
    ("data.normalize=minmax", "data.normalize"),
    ("data.split={train: 0.6, val: 0.2, test: 0.2}", "data.split.train"),
    ("train.batch_size=8", "train.batch_size"),
    ("train.optimizer.lr=0.5", "train.optimizer.lr"),
    ("train.schedule=step", "train.schedule"),
    ("train.loss=nll", "train.loss"),
    ("model=[{linear: auto}]", "model"),
])
def test_overrides_the_saved_state_cannot_follow_are_refused(cli, run, override, key):
    before = snapshot(run)
    r = cli("train", "--resume", run, "--set", override)
    msg = one_line(r.err)
    assert r.code == 2 and f"--set {override}" in msg and key in msg and "a resume cannot change" in msg, r.err
    assert snapshot(run) == before


def test_every_refused_key_is_named_in_one_run(cli, run):
    r = cli("train", "--resume", run, "--set", "seed=3", "--set", "train.epochs=3", "--set", "model.0.linear=32")
    msg = one_line(r.err)
    assert r.code == 2 and "2 errors" in msg and "--set seed=3" in msg and "--set model.0.linear=32" in msg, r.err
    assert "--set train.epochs=3" not in msg


def test_allowed_overrides_apply_and_are_written_after_the_state_loads(cli, run):
    r = cli("train", "--resume", run, "--set", "train.epochs=3", "--set", "seed=0", "--json")  # seed=0: no change
    assert r.code == 0, r.err
    assert json.loads(r.out)["epochs_completed"] == 3
    assert "epochs: 3" in (run / "recipe.yaml").read_text()
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_a_state_that_does_not_load_keeps_the_recipe_as_it_was(cli, run):
    state = run / "checkpoints" / "last.state.safetensors"
    state.write_bytes(state.read_bytes()[:1000])
    before = (run / "recipe.yaml").read_bytes()
    r = cli("train", "--resume", run, "--set", "train.epochs=3")
    assert r.code == 2 and "last.state.safetensors" in r.err, r.err
    assert (run / "recipe.yaml").read_bytes() == before


def test_a_different_early_stopping_monitor_is_refused(cli, run):
    before = snapshot(run)
    r = cli("train", "--resume", run, "--set", "train.early_stopping={monitor: val.accuracy, patience: 3}")
    msg = one_line(r.err)
    assert r.code == 2 and "train.early_stopping.monitor" in msg and "val.loss" in msg, r.err
    assert snapshot(run) == before
    r = cli("train", "--resume", run, "--set", "train.early_stopping={monitor: val.loss, patience: 3}")
    assert r.code == 0, r.err


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_a_fixed_horizon_schedule_cannot_be_extended(cli, tmp_path, schedule):
    """Their saved state fixes the step count: one-cycle would crash past it, cosine train at lr 0."""
    run = trained_run(tmp_path, TINY + f"  schedule: {schedule}\n")
    before = snapshot(run)
    r = cli("train", "--resume", run, "--set", "train.epochs=4")
    msg = one_line(r.err)
    assert r.code == 2 and "train.epochs" in msg and f"{schedule} schedule" in msg and "2 epochs" in msg, r.err
    assert snapshot(run) == before
