"""The lesson recipes of docs/insight.md show what they claim, trained briefly: the pictures exist
and the numbers say what the page says to look for."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    """lesson(recipe, *overrides) -> the run directory, trained once per module and recipe."""
    from typer.testing import CliRunner

    from dlcli.cli.app import app

    folder, done = tmp_path_factory.mktemp("lessons"), {}

    def train(name: str, *sets: str) -> Path:
        if name not in done:
            args = [a for s in sets for a in ("--set", s)]
            r = CliRunner().invoke(app, ["train", str(RECIPES / f"{name}.yaml"), *args, "--runs-dir", str(folder), "--json"])
            assert r.exit_code == 0, r.output
            done[name] = Path(json.loads(r.stdout)["run"])
        return done[name]
    return train


def gradients(cli, run: Path) -> dict:
    r = cli("inspect", run, "gradients", "--json")
    assert r.code == 0, r.err
    assert (run / "plots" / "gradients.png").is_file()
    return json.loads(r.out)["roles"]["model"]


def test_gradients_vanish_through_sigmoids_and_flow_with_relu_he_or_residuals(cli, lesson):
    sigmoid, relu, residual = (gradients(cli, lesson(n, "train.epochs=2"))
                               for n in ("flow-sigmoid", "flow-relu-he", "flow-residual"))
    first, last = sigmoid["layers"][0], sigmoid["layers"][-1]
    assert first["verdict"] == "vanishing" and first["grad_norm"] < 1e-3 * last["grad_norm"]
    assert any("vanishing" in f for f in sigmoid["findings"])
    for flowing in (relu, residual):
        assert not any(row["verdict"] for row in flowing["layers"]), flowing["findings"]
        norms = [row["grad_norm"] for row in flowing["layers"]]
        assert min(norms) > 0.05 * max(norms)


def regions(cli, run: Path) -> dict:
    r = cli("inspect", run, "regions", "--bounds", "--json")
    assert r.code == 0, r.err
    assert (run / "plots" / "regions.png").is_file()
    return json.loads(r.out)


def test_deep_relu_nets_use_a_sliver_of_their_possible_regions(cli, lesson):
    shallow, deep = (lesson(n, "train.epochs=3") for n in ("regions-shallow", "regions-deep"))
    s, d = regions(cli, shallow), regions(cli, deep)
    assert s["bound"]["name"] == "Zaslavsky" and s["bound"]["value"] == 1 + 96 + 96 * 95 // 2
    assert d["bound"]["name"] == "Serra et al. 2018" and d["bound"]["hidden_widths"] == [14, 14, 14]
    for r in (s, d):
        assert r["grid_count"] <= r["count"] <= r["bound"]["value"]
    assert d["count"] < d["bound"]["value"] / 100  # depth could multiply the pieces; training does not need it
    logged = [json.loads(line) for line in (deep / "metrics.jsonl").read_text().splitlines()]
    assert [type(line["train.regions"]) for line in logged] == [int] * 3  # the regions callback, each epoch


def test_the_atlas_of_a_study_maps_every_trial(cli, tmp_path):
    r = cli("tune", RECIPES / "digits-atlas.yaml", "--trials", "3", "--set", "train.epochs=2",
            "--set", "train.callbacks=[{probe: {samples: 64}}]", "--studies-dir", tmp_path, "--json")
    assert r.code == 0, r.err
    r = cli("atlas", tmp_path / "digits-atlas", "--colour", "train.optimizer.name", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert len(doc["trajectories"]) == 3 and doc["points"] == 9  # 3 trials x (the start + 2 epochs)
    assert all(t["value"] in ("sgd", "adam", "rmsprop") for t in doc["trajectories"])
    assert doc["explained_stress"][-1] > 0.5
    assert (tmp_path / "digits-atlas" / "plots" / "atlas.png").is_file()
