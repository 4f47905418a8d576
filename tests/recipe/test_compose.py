"""extends, --set overrides and ${...} interpolation, and the resolved recipe they produce."""
from __future__ import annotations

import pytest

from dlcli.errors import RecipeError
from dlcli.recipe.check import load_recipe
from dlcli.recipe.compose import merge, parse_override
from tests.conftest import TINY


def test_merge_deep_for_mappings_and_replacing_lists():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert merge(base, {"a": {"c": [3]}, "e": 2}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}


@pytest.mark.parametrize("text, path, value", [
    ("train.epochs=5", ("train", "epochs"), 5),
    ("train.optimizer.lr=1e-3", ("train", "optimizer", "lr"), 1e-3),
    ("model.0.linear=64", ("model", 0, "linear"), 64),
    ("data.augment=[]", ("data", "augment"), []),
    ("train.early_stopping=null", ("train", "early_stopping"), None),
    ("name=a=b", ("name",), "a=b"),
])
def test_parse_override(text, path, value):
    assert parse_override(text) == (path, value)


def test_extends_merges_over_base_relative_to_the_file(write, tmp_path):
    (tmp_path / "base").mkdir()
    write("base/common.yaml", TINY)
    child = write("child.yaml", "extends: base/common.yaml\nname: child\ntrain: {epochs: 7}\n")
    r = load_recipe(child)
    assert r.recipe.name == "child" and r.recipe.train.epochs == 7 and r.recipe.train.batch_size == 16
    assert r.recipe.data.source == "iris"


def test_error_in_base_is_located_in_the_base_file(write):
    write("base.yaml", TINY.replace("epochs: 2", "epochs: 0"))
    child = write("child.yaml", "extends: base.yaml\nseed: 3\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(child)
    assert "base.yaml:9:3" in str(e.value)


def test_overrides_then_interpolation(write):
    text = "vars: {width: 8, act: relu}\n" + TINY.replace("linear: 8", "linear: ${vars.width}").replace("- relu", "- ${vars.act}")
    r = load_recipe(write("r.yaml", text), ["vars.width=24", "vars.act=tanh", "train.epochs=3"])
    assert r.doc["model"][0] == {"linear": 24} and r.doc["model"][1] == "tanh"
    assert r.recipe.train.epochs == 3
    assert r.plan.nodes[0].out_shape == (24,)


def test_interpolation_inside_a_string_and_of_other_sections(write):
    text = TINY.replace("name: tiny", "name: tiny-${train.batch_size}").replace("epochs: 2", "epochs: ${train.batch_size}")
    r = load_recipe(write("r.yaml", text))
    assert r.recipe.name == "tiny-16" and r.recipe.train.epochs == 16


def test_reference_cycle_is_an_error(write):
    text = "vars: {a: '${vars.b}', b: '${vars.a}'}\n" + TINY
    with pytest.raises(RecipeError) as e:
        load_recipe(write("r.yaml", text))
    assert "reference cycle" in str(e.value)


def test_resolved_recipe_makes_data_paths_absolute(write, tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    r = load_recipe(write("r.yaml", TINY.replace("source: iris", "source: {type: csv, path: d.csv, target: label}")))
    assert r.doc["data"]["source"]["path"] == str(tmp_path / "d.csv")
    assert r.info.input_shape == (2,) and r.info.classes == ["0", "1"]


def test_monitor_must_be_a_logged_metric(write):
    text = TINY.replace("epochs: 2", "epochs: 2\n  early_stopping: {monitor: val.acuracy}")
    with pytest.raises(RecipeError) as e:
        load_recipe(write("r.yaml", text))
    assert "val.acuracy" in str(e.value) and "val.accuracy" in str(e.value)


def test_loss_must_fit_the_task(write):
    with pytest.raises(RecipeError) as e:
        load_recipe(write("r.yaml", TINY.replace("epochs: 2", "epochs: 2\n  loss: mse")))
    assert "train.loss: this loss takes real-valued targets, the data has class labels" in str(e.value)


def test_augmentation_must_fit_the_data(write):
    text = TINY.replace("source: iris", "source: iris\n  augment: [hflip]")
    with pytest.raises(RecipeError) as e:
        load_recipe(write("r.yaml", text))
    assert "hflip needs image data" in str(e.value) and "data.augment[0]" in str(e.value)


def test_search_space_paths_must_exist(write):
    text = TINY + "search:\n  space:\n    train.optimizer.lr: {low: 1.0e-4, high: 1.0e-1, log: true}\n    train.lrr: {low: 1, high: 2}\n"
    with pytest.raises(RecipeError) as e:
        load_recipe(write("r.yaml", text))
    assert "'train.lrr' is not a path" in str(e.value) and "optimizer.lr" not in str(e.value)


def test_design_example_recipe_validates(write):
    """The recipe of DESIGN.md §2, verbatim, is valid."""
    text = """
    name: digits-cnn
    seed: 0
    vars: {width: 32, dropout: 0.25}
    data:
      source: digits
      split: {train: 0.8, val: 0.1, test: 0.1, stratify: true}
      normalize: standard
      augment:
        - random_shift: 1
        - random_rotation: 10
        - gaussian_noise: 0.05
    model:
      - conv2d: {out: ${vars.width}, kernel: 3, padding: 1}
      - batchnorm
      - relu
      - residual:
          - conv2d: {out: ${vars.width}, kernel: 3, padding: 1}
          - batchnorm
          - relu
      - maxpool: 2
      - flatten
      - dropout: ${vars.dropout}
      - linear: auto
    train:
      epochs: 30
      batch_size: 64
      optimizer: {name: adamw, lr: 3.0e-3, weight_decay: 5.0e-4}
      schedule: {name: onecycle}
      loss: {name: cross_entropy, label_smoothing: 0.1}
      early_stopping: {monitor: val.accuracy, patience: 5}
    search:
      trials: 30
      objective: {metric: val.accuracy, direction: maximize}
      sampler: tpe
      pruner: median
      space:
        vars.width: {choices: [16, 32, 64]}
        vars.dropout: {low: 0.0, high: 0.5}
        train.optimizer.lr: {low: 1.0e-4, high: 1.0e-1, log: true}
    export:
      onnx: {opset: 18, dynamic_batch: true, tolerance: {atol: 1.0e-5, rtol: 1.0e-3}}
    """
    r = load_recipe(write("design.yaml", text))
    assert r.plan.out_shape == (10,) and r.recipe.search.space["vars.width"].choices == [16, 32, 64]


def test_set_reaches_arguments_of_a_bare_or_default_component(write):
    r = load_recipe(write("r.yaml", TINY), ["train.optimizer.lr=0.5", "train.schedule.name=cosine"])
    assert r.doc["train"]["optimizer"] == {"name": "adam", "lr": 0.5}
    assert r.doc["train"]["schedule"] == {"name": "cosine"}


def test_exponent_floats_without_a_dot_are_numbers(write):
    r = load_recipe(write("r.yaml", TINY.replace("epochs: 2", "epochs: 2\n  optimizer: {name: sgd, lr: 1e-2}")), ["train.l2=5e-4"])
    assert r.doc["train"]["optimizer"]["lr"] == 0.01 and r.recipe.train.l2 == 5e-4


def test_val_monitor_needs_a_val_split(write):
    text = TINY.replace("source: iris", "source: iris\n  split: {train: 0.8, val: 0, test: 0.2}").replace(
        "epochs: 2", "epochs: 2\n  early_stopping: {monitor: val.accuracy}")
    with pytest.raises(RecipeError) as e:
        load_recipe(write("r.yaml", text))
    assert "logged metrics are train.loss" in str(e.value)


def test_mixup_needs_a_soft_target_loss(write):
    text = """
    data: {source: digits, augment: [{mixup: 0.2}]}
    model: [flatten, {linear: auto}]
    train: {loss: hinge}
    """
    with pytest.raises(RecipeError) as e:
        load_recipe(write("r.yaml", text))
    assert "data.augment[0]" in str(e.value) and "soft targets" in str(e.value)
    load_recipe(write("ok.yaml", text.replace("loss: hinge", "loss: cross_entropy")))


def test_embedding_input_must_not_be_normalised(write, tmp_path):
    import numpy as np

    np.savez(tmp_path / "tok.npz", x=np.arange(200).reshape(20, 10) % 7, y=np.arange(20) % 2)
    text = "data: {source: {type: npz, path: tok.npz}}\nmodel: [{embedding: {vocab: 7, dim: 4}}, flatten, {linear: auto}]\n"
    with pytest.raises(RecipeError) as e:
        load_recipe(write("r.yaml", text))
    assert "data.normalize" in str(e.value) and "normalize: none" in str(e.value)
