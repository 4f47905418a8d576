"""Every kind of bad recipe input: exit 2, a located message, no traceback, all errors at once."""
from __future__ import annotations

import pytest

from tests.conftest import TINY


def bad(cli, path, *extra):
    r = cli("validate", path, *extra)
    assert r.code == 2, (r.out, r.err)
    assert "Traceback" not in r.err
    return " ".join(r.err.split())  # rich wraps long lines; compare on single spaces


def test_valid_recipe_passes(cli, write):
    r = cli("validate", write("ok.yaml", TINY))
    assert r.code == 0 and "ok" in r.out and "(3,)" in r.out


def test_misspelled_top_level_key(cli, write):
    err = bad(cli, write("r.yaml", TINY + "trian: {epochs: 3}\n"))
    assert "unknown key 'trian'" in err and "did you mean 'train'" in err and "r.yaml:11:1" in err


def test_misspelled_nested_key(cli, write):
    err = bad(cli, write("r.yaml", TINY.replace("epochs: 2", "epoch: 2")))
    assert "train.epoch" in err and "did you mean 'epochs'" in err and "r.yaml:9:3" in err


def test_unknown_layer(cli, write):
    err = bad(cli, write("r.yaml", TINY.replace("- relu", "- rleu")))
    assert "unknown layer 'rleu'" in err and "did you mean 'relu'" in err and "model[1]" in err


def test_misspelled_layer_argument(cli, write):
    err = bad(cli, write("r.yaml", TINY.replace("- linear: 8", "- linear: {out: 8, bais: false}")))
    assert "model[0].linear.bais" in err and "did you mean 'bias'" in err


def test_wrong_type(cli, write):
    err = bad(cli, write("r.yaml", TINY.replace("epochs: 2", "epochs: many")))
    assert "train.epochs" in err and "expected an integer" in err and "'many'" in err


def test_split_must_sum_to_one(cli, write):
    err = bad(cli, write("r.yaml", TINY.replace("source: iris", "source: iris\n  split: {train: 0.5, val: 0.1, test: 0.1}")))
    assert "data.split" in err and "sum to 1" in err and "0.7" in err


@pytest.mark.parametrize("edit, path", [
    (("epochs: 2", "epochs: 0"), "train.epochs"),
    (("batch_size: 16", "batch_size: -4"), "train.batch_size"),
    (("epochs: 2", "epochs: 2\n  optimizer: {name: adam, lr: 0}"), "train.optimizer.lr"),
])
def test_non_positive_numbers(cli, write, edit, path):
    err = bad(cli, write("r.yaml", TINY.replace(*edit)))
    assert path in err and "greater than 0" in err


def test_missing_data_file(cli, write, tmp_path):
    err = bad(cli, write("r.yaml", TINY.replace("source: iris", "source: {type: csv, path: nowhere.csv, target: y}")))
    assert "data.source.path" in err and str(tmp_path / "nowhere.csv") in err


def test_malformed_yaml(cli, write):
    err = bad(cli, write("r.yaml", "data:\n  source: [iris\nmodel: []\n"))
    assert "malformed YAML" in err and "r.yaml:3" in err


def test_unknown_var(cli, write):
    err = bad(cli, write("r.yaml", "vars: {width: 8}\n" + TINY.replace("linear: 8", "linear: ${vars.widht}")))
    assert "unknown reference ${vars.widht}" in err and "did you mean '${vars.width}'" in err and "model[0].linear" in err


def test_extends_cycle(cli, write):
    write("a.yaml", "extends: b.yaml\n" + TINY)
    b = write("b.yaml", "extends: a.yaml\nseed: 1\n")
    err = bad(cli, b)
    assert "extends cycle: b.yaml -> a.yaml -> b.yaml" in err


def test_set_on_missing_path(cli, write):
    err = bad(cli, write("r.yaml", TINY), "--set", "train.epoks=5")
    assert "--set train.epoks=5" in err and "did you mean 'epochs'" in err


def test_set_on_unknown_var(cli, write):
    err = bad(cli, write("r.yaml", "vars: {width: 8}\n" + TINY), "--set", "vars.widht=16")
    assert "did you mean 'vars.width'" in err


@pytest.mark.parametrize("override, message", [
    ("train.epochs=[1, 2", "malformed value"),
    ("train.epochs", "KEY.PATH=VALUE"),
])
def test_set_malformed(cli, write, override, message):
    err = bad(cli, write("r.yaml", TINY), "--set", override)
    assert message in err


def test_python_tag_is_refused_and_not_run(cli, write, tmp_path):
    marker = tmp_path / "pwned"
    text = TINY.replace("seed_placeholder", "") + f"description: !!python/object/apply:os.system ['touch {marker}']\n"
    err = bad(cli, write("r.yaml", text))
    assert "refused" in err and "r.yaml:11" in err
    assert not marker.exists()


def test_layer_cannot_take_shape(cli, write):
    err = bad(cli, write("r.yaml", TINY.replace("- linear: 8", "- conv2d: 8")))
    assert "conv2d" in err and "(4,)" in err and "model[0]" in err


def test_all_errors_in_one_run(cli, write):
    text = TINY.replace("epochs: 2", "epochs: 0").replace("- relu", "- rleu") + "seeed: 3\n"
    err = bad(cli, write("r.yaml", text))
    assert "3 errors" in err
    assert "train.epochs" in err and "rleu" in err and "seeed" in err


def test_missing_recipe_file(cli, tmp_path):
    err = bad(cli, tmp_path / "none.yaml")
    assert "recipe not found" in err


def test_unknown_dataset_type(cli, write):
    err = bad(cli, write("r.yaml", TINY.replace("source: iris", "source: {type: mons, size: 100}")))
    assert "data.source.type" in err and "unknown dataset 'mons'" in err and "did you mean 'moons'" in err


def test_unknown_optimizer(cli, write):
    err = bad(cli, write("r.yaml", TINY.replace("epochs: 2", "epochs: 2\n  optimizer: adamm")))
    assert "train.optimizer.name" in err and "did you mean 'adam'" in err and "r.yaml:10" in err


def test_missing_required_section_names_the_file(cli, write):
    err = bad(cli, write("r.yaml", "data: {source: iris}\n"))
    assert "r.yaml:1:1: model: required key is missing" in err


def test_check_section_metrics_and_tolerances_are_located(cli, write):
    text = TINY.replace("source: iris", "source: iris\n  split: {train: 0.8, val: 0.2, test: 0.0}") + (
        "check:\n  metrics: [val.acuracy, test.accuracy]\n  tolerance: {atol: -1}\n")
    err = bad(cli, write("r.yaml", text))
    assert "r.yaml:13:13: check.metrics[0]: unknown metric 'val.acuracy'" in err and "did you mean 'val.accuracy'" in err
    assert "check.metrics[1]: unknown metric 'test.accuracy'" in err  # the test split is empty
    assert "check.tolerance.atol" in err and "greater than or equal to 0" in err
    ok = TINY + "check:\n  metrics: {test.accuracy: 0.02, test.loss: {rtol: 0.1}, test.macro_f1: null}\n  tolerance: 0.01\n"
    assert cli("validate", write("ok.yaml", ok)).code == 0


def test_a_key_that_is_not_a_string_is_located(cli, write):
    err = bad(cli, write("r.yaml", "data: {source: iris}\nmodel: [{linear: auto}]\n1: x\n"))
    assert "r.yaml:3:1: [1]: a top-level key names a section (data, model, train, ...), got 1" in err


def test_a_recipe_path_too_long_for_the_os_is_bad_input(cli, tmp_path):
    r = cli("validate", tmp_path / ("x" * 5000 + ".yaml"))
    assert r.code == 2 and "Traceback" not in r.err
    assert "xxx.yaml: <recipe>: cannot read the recipe: File name too long" in " ".join(r.err.split())
