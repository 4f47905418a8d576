"""Every shipped recipe validates and trains for one epoch from the command line."""
from __future__ import annotations

import json

import pytest

from tests.conftest import RECIPES


def test_recipes_are_shipped():
    names = {p.stem for p in RECIPES}
    assert {"digits-mlp", "digits-cnn", "digits-resnet", "iris-mlp", "moons-mlp", "wine-logistic",
            "breast-cancer-svm", "diabetes-regression", "digits-ae", "digits-linear-ae", "digits-sparse-ae",
            "digits-denoising-ae", "digits-vae", "digits-cgan", "ring8-gan", "grid25-gan", "pydoc-char-lstm",
            "pydoc-gpt", "stdlib-gpt"} <= names


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_validates(cli, recipe):
    r = cli("validate", recipe, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["valid"] is True


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_trains_one_epoch_and_exports_with_parity(cli, recipe, tmp_path):
    r = cli("train", recipe, "--set", "train.epochs=1", "--runs-dir", tmp_path, "--json")
    assert r.code == 0, r.err
    record = json.loads(r.out)
    assert record["status"] == "completed" and record["epochs_completed"] == 1
    test = record["metrics"]["test"]
    assert test["loss"] == test["loss"]  # not NaN
    expected = {"classification": "accuracy", "regression": "r2", "autoencoder": "pca_mse", "vae": "nll",
                "gan": "modes_captured", "cgan": "conditional_accuracy", "language_model": "bits_per_char"}
    assert expected[record["task"]] in test
    r = cli("export", record["run"], "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    for module in report.get("modules", {"model": report}).values():
        assert module["parity"]["passed"] and module["parity"]["batches"][0] == 1
