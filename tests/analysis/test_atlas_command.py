"""dlcli atlas over run directories and study folders (workflows/atlas.py)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.conftest import train_once

RECIPE = """
name: {name}
seed: 0
data: {{source: iris}}
model: [{{linear: 8}}, relu, {{linear: auto}}]
train:
  epochs: 3
  batch_size: 16
  optimizer: {{name: adam, lr: {lr}}}
  callbacks: [{{probe: {{samples: 12}}}}]
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two identical runs (a, b) and one with another learning rate (c)."""
    texts = {name: RECIPE.format(name=name, lr=lr) for name, lr in (("a", 0.01), ("b", 0.01), ("c", 0.1))}
    return train_once(tmp_path_factory.mktemp("atlas"), texts)


def test_identical_runs_land_on_one_point_and_others_do_not(cli, runs, tmp_path):
    r = cli("atlas", runs["a"], runs["b"], runs["c"], "--out", tmp_path / "plots", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["points"] == 12 and doc["probe_samples"] == 12  # 3 runs x (the start + 3 epochs)
    coords = np.asarray(doc["coords"])
    a, b, c = (t["rows"] for t in doc["trajectories"])
    assert np.array_equal(coords[a], coords[b])  # the same recipe and seed: the same predictions
    assert np.allclose(coords[a[0]], coords[c[0]])  # same initial weights, another learning rate after
    assert not np.allclose(coords[a[-1]], coords[c[-1]], atol=1e-6)
    stress = doc["explained_stress"]
    assert len(stress) == 3 and 0 < stress[0] <= stress[1] <= stress[2] <= 1.0 + 1e-12
    assert {p.name for p in (tmp_path / "plots").iterdir()} >= {"atlas.png", "atlas.csv", "atlas.json"}


def test_colour_by_a_recipe_key_and_the_text_output(cli, runs, tmp_path):
    r = cli("atlas", runs["a"], runs["c"], "--colour", "train.optimizer.lr", "--out", tmp_path)
    assert r.code == 0, r.err
    assert "2 runs, 8 points" in r.out and "of the stress" in r.out and "atlas.png" in r.out
    r = cli("atlas", runs["a"], runs["c"], "--colour", "train.optimiser.lr", "--out", tmp_path)
    assert r.code == 2 and "no run's recipe has that key" in r.err


def test_runs_with_other_probe_sets_are_refused(cli, runs, tmp_path):
    other = shutil.copytree(runs["c"], tmp_path / "c2" / "0001")
    meta_path = other / "records" / "probe" / "probe.json"
    meta = json.loads(meta_path.read_text())
    meta["digest"] = "0" * 64
    meta_path.write_text(json.dumps(meta))
    r = cli("atlas", runs["a"], other, "--out", tmp_path)
    assert r.code == 2 and "cannot be compared" in r.err and "Traceback" not in r.err


def test_a_run_without_probe_records_says_which_callback(cli, runs, tmp_path):
    bare = shutil.copytree(runs["a"], tmp_path / "bare" / "0001")
    shutil.rmtree(bare / "records")
    r = cli("atlas", bare, runs["a"], "--out", tmp_path)
    assert r.code == 2 and "no probe records" in r.err and "train.callbacks" in r.err


def test_a_study_is_its_finished_trials(cli, runs, tmp_path):
    study = tmp_path / "study"
    for i, name in enumerate("ac"):
        shutil.copytree(runs[name], study / "trials" / f"{i:04d}")
    failed = shutil.copytree(runs["b"], study / "trials" / "0002")
    record = json.loads((failed / "run.json").read_text())
    (failed / "run.json").write_text(json.dumps({**record, "status": "failed"}))
    r = cli("atlas", study, "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert [t["label"] for t in doc["trajectories"]] == ["0000", "0001"] and doc["study"] == str(study)
    assert (study / "plots" / "atlas.png").is_file()


def test_a_study_without_finished_trials_is_refused(cli, tmp_path):
    (tmp_path / "empty" / "trials").mkdir(parents=True)
    r = cli("atlas", tmp_path / "empty")
    assert r.code == 2 and "no finished trials" in r.err
