"""dlcli inspect RUN regions|spectrum|landscape on trained runs, and its refusals (workflows/inspect.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import train_once

RECIPE = """
name: {name}
seed: 0
data: {{source: iris}}
model: [{{linear: 8}}, {act}, {{linear: auto}}]
train: {{epochs: 3, batch_size: 16, optimizer: {{name: adam, lr: 0.02}}}}
"""
GAN = """
name: gan
task: gan
data: {source: {type: ring8, size: 256}, normalize: none}
models:
  generator: [{linear: 8}, relu, {linear: auto}]
  discriminator: [{linear: 8}, relu]
train: {epochs: 1, batch_size: 64}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    texts = {name: RECIPE.format(name=name, act=name) for name in ("relu", "tanh")}
    return train_once(tmp_path_factory.mktemp("inspect"), texts)


def test_regions_on_the_plane_through_three_samples(cli, runs, monkeypatch):
    monkeypatch.setenv("DLCLI_PLOTS", "1")
    r = cli("inspect", runs["relu"], "regions", "--plane", "0,5,9", "--bounds", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["plane"] == "0,5,9" and 1 <= doc["grid_count"] <= doc["count"] <= doc["bound"]["value"]
    assert doc["bound"] == {"value": 1 + 8 + 28, "name": "Zaslavsky", "hidden_widths": [8]}  # 8 lines in a plane
    assert doc["per_unit_area"] == pytest.approx(doc["count"] / doc["area"])
    saved = json.loads((runs["relu"] / "plots" / "regions.json").read_text())
    assert saved["count"] == doc["count"]


@pytest.mark.parametrize("args, message", [
    (["--plane", "0,5,900"], "outside"),
    (["--plane", "0,0,1"], "an index repeats"),
    (["--plane", "input"], "2-D"),
    (["--plane", "sideways"], "plane"),
])
def test_regions_refuses_a_bad_plane(cli, runs, args, message):
    r = cli("inspect", runs["relu"], "regions", *args)
    assert r.code == 2 and message in r.err and "Traceback" not in r.err, r.err


def test_regions_refuses_a_network_that_is_not_piecewise_linear(cli, runs):
    r = cli("inspect", runs["tanh"], "regions")
    assert r.code == 2 and "Tanh" in r.err and "not piecewise linear" in r.err


def test_spectrum_is_seeded_and_matches_the_trace_it_reports(cli, runs):
    r = cli("inspect", runs["tanh"], "spectrum", "--top", "5", "--samples", "64", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    top = doc["top_eigenvalues"]
    assert len(top) == 5 and top == sorted(top, reverse=True) and doc["samples"] == 64
    assert doc["parameters"] == 4 * 8 + 8 + 8 * 3 + 3 and doc["trace"] > top[0] > 0
    again = json.loads(cli("inspect", runs["tanh"], "spectrum", "--top", "5", "--samples", "64", "--json").out)
    assert again["top_eigenvalues"] == top and again["trace"] == doc["trace"]
    assert (runs["tanh"] / "plots" / "spectrum.json").is_file()


def test_landscape_runs_from_the_initial_to_the_trained_weights(cli, runs):
    r = cli("inspect", runs["relu"], "landscape", "--grid", "5", "--samples", "64", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    path, plane = doc["interpolation"], doc["slice"]
    first, last = path["ends"]
    assert path["a"][first] == pytest.approx(0.0) and path["a"][last] == pytest.approx(1.0) and len(path["a"]) == 7
    assert path["loss"][last] == pytest.approx(plane["center_loss"], rel=1e-5)  # both are the trained weights
    assert path["loss"][first] > path["loss"][last]  # training lowered the loss
    assert np.asarray(plane["loss"]).shape == (5, 5)
    r = cli("inspect", runs["relu"], "landscape")
    assert r.code == 0 and "from the initial (a=0)" in r.out and "landscape.npz" in r.out


def test_landscape_refuses_a_small_grid_and_a_run_without_initial_weights(cli, runs, tmp_path):
    import shutil

    r = cli("inspect", runs["relu"], "landscape", "--grid", "2")
    assert r.code == 2 and "--grid must be at least 3 (got 2)" in r.err
    old = shutil.copytree(runs["relu"], tmp_path / "old" / "0001")
    (old / "checkpoints" / "init.safetensors").unlink()
    r = cli("inspect", old, "landscape")
    assert r.code == 2 and "no initial weights" in r.err


def test_an_unknown_analysis_and_a_task_without_one_loss(cli, runs, write, tmp_path):
    r = cli("inspect", runs["relu"], "region")
    assert r.code == 2 and "did you mean 'regions'" in r.err
    r = cli("train", write("gan.yaml", GAN), "--runs-dir", tmp_path / "runs")
    assert r.code == 0, r.err
    for what, message in (("spectrum", "one training loss"), ("regions", "one network `net`")):
        r = cli("inspect", tmp_path / "runs" / "gan" / "0001", what)
        assert r.code == 2 and message in r.err, r.err
