"""What `validate` used to accept and training then died on: every case is exit 2 up front, located.

Each case validates a small recipe and checks the exit code, the key path, the line and the
suggestion; cases that validated before also check that `dlcli train` stops before creating a run
directory.
"""
from __future__ import annotations

import sys

import pytest

from tests.conftest import TINY

DIGITS = """
name: d
data:
  source: digits
model:
  - flatten
  - linear: auto
train:
  epochs: 1
"""


def bad(cli, path):
    r = cli("validate", path)
    assert r.code == 2, (r.out, r.err)
    assert "Traceback" not in r.err
    return " ".join(r.err.split())  # rich wraps long lines; compare on single spaces


def refused_by_train(cli, path, tmp_path):
    """`dlcli train` exits 2 before anything is written."""
    runs = tmp_path / "runs"
    r = cli("train", path, "--runs-dir", runs, "--json")
    assert r.code == 2, (r.out, r.err)
    assert "Traceback" not in r.err
    assert not runs.exists()


# --- the network's last layer must give what the task and the loss need ------------------------------

@pytest.mark.parametrize("head", ["linear: 2", "linear: 5", "linear: 1"])
def test_a_head_that_is_not_one_score_per_class(cli, write, tmp_path, head):
    path = write("r.yaml", TINY.replace("linear: auto", head))
    err = bad(cli, path)
    assert "r.yaml:7:" in err and "model[2]" in err and "3 classes" in err and "use `linear: auto`" in err
    refused_by_train(cli, path, tmp_path)


def test_linear_1_for_ten_classes(cli, write):
    err = bad(cli, write("r.yaml", DIGITS.replace("linear: auto", "linear: 1")))
    assert "r.yaml:6:" in err and "model[1]" in err and "10 classes" in err and "gives (1,)" in err


def test_forgetting_flatten_is_located_at_the_last_layer(cli, write, tmp_path):
    path = write("r.yaml", DIGITS.replace("- flatten", "- conv2d: {out: 4, kernel: 3, padding: 1}\n  - relu"))
    err = bad(cli, path)
    assert "r.yaml:7:" in err and "model[2]" in err and "(4, 8, 10)" in err
    assert "add `flatten` before the last linear" in err
    refused_by_train(cli, path, tmp_path)


def test_regression_needs_one_value_per_target(cli, write, tmp_path):
    path = write("r.yaml", TINY.replace("source: iris", "source: diabetes").replace("linear: auto", "linear: 3"))
    err = bad(cli, path)
    assert "model[2]" in err and "r.yaml:7:" in err and "one value per target" in err and "1 target" in err
    refused_by_train(cli, path, tmp_path)


@pytest.mark.parametrize("head", ["linear: 1", "linear: auto", "linear: 2"])
def test_binary_bce_takes_one_logit_or_one_per_class(cli, write, head):
    recipe = TINY.replace("source: iris", "source: breast_cancer").replace("linear: auto", head)
    r = cli("validate", write("r.yaml", recipe + "  loss: bce\n"))
    assert r.code == 0, r.err


def test_a_wrong_head_in_a_layers_mapping_is_located_at_its_last_layer(cli, write):
    model = "model:\n  layers:\n    - linear: 8\n    - linear: 2\n"
    err = bad(cli, write("r.yaml", TINY.replace("model:\n  - linear: 8\n  - relu\n  - linear: auto\n", model)))
    assert "model.layers[1]" in err and "r.yaml:7:" in err and "3 classes" in err


# --- numbers the schema let through ------------------------------------------------------------------

@pytest.mark.parametrize("seed", ["1e100", "-1", "4294967296", "99999999999999999999999", "0.5"])
def test_seed_is_a_32_bit_unsigned_integer(cli, write, seed):
    err = bad(cli, write("r.yaml", f"seed: {seed}\n" + TINY))
    assert "r.yaml:1:1" in err and "seed" in err and "4294967295" in err


def test_a_huge_integer_seed_is_refused_before_training(cli, write, tmp_path):
    refused_by_train(cli, write("r.yaml", "seed: 99999999999999999999999\n" + TINY), tmp_path)


@pytest.mark.parametrize("key, value, path", [
    ("l1", ".inf", "train.l1"), ("l2", ".inf", "train.l2"), ("l2", ".nan", "train.l2"),
    ("grad_clip", ".inf", "train.grad_clip"),
    ("early_stopping", "{monitor: train.loss, min_delta: .inf}", "train.early_stopping.min_delta"),
])
def test_train_numbers_are_finite(cli, write, key, value, path):
    err = bad(cli, write("r.yaml", TINY + f"  {key}: {value}\n"))
    assert path in err and "r.yaml:11:" in err and "finite" in err


def test_an_infinite_penalty_is_refused_before_training(cli, write, tmp_path):
    refused_by_train(cli, write("r.yaml", TINY + "  l1: .inf\n"), tmp_path)


def test_check_tolerances_are_finite(cli, write):
    err = bad(cli, write("r.yaml", TINY + "check: {tolerance: {atol: .inf}}\n"))
    assert "check.tolerance.atol" in err and "finite" in err


def test_threads_are_bounded_and_the_limit_is_said(cli, write, tmp_path):
    path = write("r.yaml", TINY + "  threads: 1000000\n")
    err = bad(cli, path)
    assert "train.threads" in err and "r.yaml:11:" in err and "1024" in err
    refused_by_train(cli, path, tmp_path)


# --- device names --------------------------------------------------------------------------------------

@pytest.mark.parametrize("device, hint", [
    ("banana", None), ("cdua", "did you mean 'cuda'"), ("CPU", "did you mean 'cpu'"), ("cuda:x", None),
    ("cuda:-1", None), ("'cuda:'", None),
])
def test_unknown_device_names(cli, write, device, hint):
    err = bad(cli, write("r.yaml", TINY + f"  device: {device}\n"))
    assert "train.device" in err and "r.yaml:11:" in err and "auto, cpu, cuda, cuda:N or mps" in err
    assert hint is None or hint in err


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:3", "mps"])
def test_valid_device_names_validate_without_torch(cli, write, device):
    r = cli("validate", write("r.yaml", TINY + f"  device: {device}\n"))
    assert r.code == 0, r.err


def test_device_is_checked_without_importing_torch(write):
    import subprocess

    path = write("r.yaml", TINY + "  device: banana\n")
    code = ("import sys; from dlcli.recipe.check import load_recipe\n"
            "try: load_recipe(sys.argv[1])\n"
            "except Exception as e: print(type(e).__name__)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["RecipeError", "False"]


# --- a monitored val metric needs a val split with samples --------------------------------------------

SPLIT = "source: iris\n  split: {train: 0.898, val: 0.002, test: 0.1}"  # 0.002 * 150 = 0.3: no val sample


def test_a_val_split_that_rounds_to_zero_while_monitored(cli, write, tmp_path):
    path = write("r.yaml", TINY.replace("source: iris", SPLIT) + "  early_stopping: {monitor: val.accuracy}\n")
    err = bad(cli, path)
    assert "train.early_stopping.monitor" in err and "r.yaml:12:" in err
    assert "val split" in err and "0 of the 150 samples" in err and "data.split.val" in err
    refused_by_train(cli, path, tmp_path)


def test_a_schedule_monitoring_an_empty_val_split(cli, write):
    err = bad(cli, write("r.yaml", TINY.replace("source: iris", SPLIT)
                         + "  schedule: {name: plateau, monitor: val.loss}\n"))
    assert "train.schedule.monitor" in err and "r.yaml:12:" in err and "0 of the 150 samples" in err


def test_an_empty_val_split_is_fine_when_nothing_watches_it(cli, write):
    r = cli("validate", write("r.yaml", TINY.replace("source: iris", SPLIT) + "  early_stopping: {monitor: train.loss}\n"))
    assert r.code == 0, r.err


# --- embeddings take the data's integer ids -------------------------------------------------------------

def test_an_embedding_after_a_float_layer(cli, write, tmp_path):
    model = "model:\n  - linear: 8\n  - embedding: {vocab: 10, dim: 4}\n  - flatten\n  - linear: auto"
    path = write("r.yaml", TINY.replace("model:\n  - linear: 8\n  - relu\n  - linear: auto", model))
    err = bad(cli, path)
    assert "model[1].embedding" in err and "r.yaml:6:" in err and "after `linear`" in err
    refused_by_train(cli, path, tmp_path)


def test_an_embedding_behind_flatten_still_reads_ids(cli, write):
    model = "model:\n  - flatten\n  - embedding: {vocab: 10, dim: 4}\n  - flatten\n  - linear: auto"
    text = TINY.replace("model:\n  - linear: 8\n  - relu\n  - linear: auto", model)
    r = cli("validate", write("r.yaml", text.replace("source: iris", "source: iris\n  normalize: none")))
    assert r.code == 0, r.err
    err = bad(cli, write("s.yaml", text))  # the ids reach it through flatten: normalisation would destroy them
    assert "data.normalize" in err and "normalize: none" in err


def test_an_embedding_inside_a_block_after_a_float_layer(cli, write):
    model = "model:\n  - linear: 8\n  - residual: [{embedding: {vocab: 10, dim: 1}}, flatten]\n  - linear: auto"
    err = bad(cli, write("r.yaml", TINY.replace("model:\n  - linear: 8\n  - relu\n  - linear: auto", model)))
    assert "model[1].residual" in err and "after `linear`" in err


# --- mistyped keys inside components name the key and the nearest valid one ---------------------------

@pytest.mark.parametrize("text, path, near", [
    ("  optimizer: {nmae: adam, lr: 0.1}\n", "train.optimizer.nmae", "name"),
    ("  schedule: {nam: cosine}\n", "train.schedule.nam", "name"),
    ("  loss: {nme: cross_entropy}\n", "train.loss.nme", "name"),
])
def test_a_mistyped_name_key(cli, write, text, path, near):
    err = bad(cli, write("r.yaml", TINY + text))
    assert path in err and f"did you mean '{near}'" in err and "r.yaml:11:" in err
    assert "expected a name or a mapping" not in err


def test_a_component_without_a_name_is_the_default_with_those_arguments(cli, write):
    from dlcli.recipe.check import load_recipe

    r = load_recipe(write("r.yaml", TINY + "  optimizer: {lr: 0.1}\n"))
    entry, args = r.parts.optimizers["model"]
    assert type(entry).__name__ == "Adam" and args.lr == 0.1 and r.doc["train"]["optimizer"] == {"name": "adam", "lr": 0.1}
    err = bad(cli, write("r.yaml", TINY + "  optimizer: {lrr: 0.1}\n"))
    assert "train.optimizer.lrr" in err and "did you mean 'lr'" in err and "r.yaml:11:" in err


def test_a_component_that_is_neither_a_name_nor_a_mapping(cli, write):
    err = bad(cli, write("r.yaml", TINY + "  optimizer: [adam]\n"))
    assert "train.optimizer" in err and "optimizer name" in err and "1 error" in err


def test_a_mistyped_type_key_in_data_source(cli, write):
    write("d.csv", "a,y\n1,0\n2,1\n")
    err = bad(cli, write("r.yaml", TINY.replace("source: iris", "source: {typ: csv, path: d.csv, target: y}")))
    assert "data.source.typ" in err and "did you mean 'type'" in err and "r.yaml:3:" in err


def test_a_mistyped_key_in_check_metrics(cli, write):
    err = bad(cli, write("r.yaml", TINY + "check:\n  metrics: {test.accuracy: {rtool: 0.1}}\n"))
    assert "check.metrics.test.accuracy.rtool" in err and "did you mean 'rtol'" in err
    assert "1 error" in err and "expected a list" not in err


def test_check_metrics_of_the_wrong_type_is_one_message(cli, write):
    err = bad(cli, write("r.yaml", TINY + "check:\n  metrics: 5\n"))
    assert "1 error" in err and "check.metrics" in err and "expected a list or a mapping, got 5" in err


def test_a_list_of_mappings_in_check_metrics_is_one_message(cli, write):
    err = bad(cli, write("r.yaml", TINY + "check:\n  metrics: [{name: test.accuracy}]\n"))
    assert "1 error" in err and "check.metrics[0]" in err and "expected a string" in err


# --- a bare architecture name -------------------------------------------------------------------------

BARE = TINY.replace("model:\n  - linear: 8\n  - relu\n  - linear: auto", "model: {}")


def test_a_bare_architecture_name_is_that_architecture(cli, write):
    r = cli("validate", write("r.yaml", BARE.replace("{}", "logistic_regression")))
    assert r.code == 0, r.err
    assert "output (3,)" in r.out


def test_problems_inside_a_bare_architecture_are_located_at_the_model(cli, write):
    err = bad(cli, write("r.yaml", BARE.replace("{}", "lenet5")))  # lenet5 convolves images, iris is a vector
    assert "r.yaml:4:1" in err and "model.lenet5[0].conv2d" in err


def test_a_mistyped_bare_architecture_is_one_message(cli, write):
    err = bad(cli, write("r.yaml", BARE.replace("{}", "logistic_regresion")))
    assert "1 error" in err and "r.yaml:4:" in err and "did you mean 'logistic_regression'" in err


def test_a_bare_layer_name_as_model_says_to_write_a_list(cli, write):
    err = bad(cli, write("r.yaml", BARE.replace("{}", "flatten")))
    assert "1 error" in err and "'flatten' is a layer" in err and "[flatten]" in err


def test_a_model_of_the_wrong_type_is_one_message(cli, write):
    err = bad(cli, write("r.yaml", BARE.replace("{}", "5")))
    assert "1 error" in err and "model:" in err


# --- absurd networks are refused by the planner, not by the interpreter --------------------------------

def test_thousands_of_nested_residuals_are_a_problem_not_a_recursion_error():
    import dlcli.nn  # noqa: F401
    from dlcli.nn.base import MAX_DEPTH
    from dlcli.nn.model import plan_model

    spec: list = ["relu"]
    for _ in range(5000):
        spec = [{"residual": spec}]
    plan = plan_model(spec, (4,), 3)
    messages = [p.message for p in plan.ctx.problems]
    assert len(messages) == 1 and f"more than {MAX_DEPTH}" in messages[0]


def test_nesting_built_through_vars_is_located(cli, write):
    from dlcli.nn.base import MAX_DEPTH

    depth = MAX_DEPTH + 4  # blocks; each is two YAML levels, well within the reader's own limit
    chain = "\n".join(f"  v{i}: [{{residual: '${{vars.v{i - 1}}}'}}]" for i in range(1, depth))
    recipe = TINY.replace("model:\n  - linear: 8\n  - relu", f"model:\n  - residual: ${{vars.v{depth - 1}}}")
    path = write("r.yaml", "vars:\n  v0: [relu]\n" + chain + "\n" + recipe)
    line = path.read_text().splitlines().index(f"  - residual: ${{vars.v{depth - 1}}}") + 1
    err = bad(cli, path)
    assert "1 error" in err and f"r.yaml:{line}:5: model[0].residual" in err
    assert f"blocks nest more than {MAX_DEPTH} deep" in err


def test_a_repeat_beyond_the_layer_budget(cli, write):
    from dlcli.nn.base import MAX_LAYERS

    recipe = TINY.replace("- relu", f"- repeat: {{times: {2 * MAX_LAYERS}, layers: [relu]}}")
    err = bad(cli, write("r.yaml", recipe))
    assert "model" in err and str(MAX_LAYERS) in err and "1 error" in err


def test_a_given_split_without_val_rows_while_monitored(cli, write):
    rows = "\n".join(f"{i % 7},{i % 3},{i % 2},{'test' if i % 5 == 0 else 'train'}" for i in range(40))
    write("g.csv", "a,b,y,part\n" + rows + "\n")
    recipe = """
    data:
      source: {type: csv, path: g.csv, target: y, split_column: part}
      split: given
    model:
      - linear: auto
    train:
      epochs: 1
      early_stopping: {monitor: val.loss}
    """
    err = bad(cli, write("r.yaml", recipe))
    assert "train.early_stopping.monitor" in err and "r.yaml:8:" in err and "no val samples" in err
    r = cli("validate", write("s.yaml", recipe.replace("val.loss", "train.loss")))
    assert r.code == 0, r.err


# --- odd values where names go: a problem each, never a crash -----------------------------------------

@pytest.mark.parametrize("model, says", [
    ("{mlp: {hidden: [8]}, init: {a: 1}}", "model.init: expected an initializer name"),
    ("{mlp: {hidden: [8]}, 99: relu}", "name one architecture"),
])
def test_odd_model_mappings(cli, write, model, says):
    err = bad(cli, write("r.yaml", BARE.replace("{}", model)))
    assert says in err and "r.yaml:4:" in err


def test_a_mapping_among_train_metrics(cli, write):
    err = bad(cli, write("r.yaml", TINY + "  metrics: [{accuracy: 1}, acuracy]\n"))
    assert "train.metrics[0]" in err and "train.metrics[1]" in err and "did you mean 'accuracy'" in err


# --- what one bad section must not hide, and numbers in every section ---------------------------------

def test_type_and_name_together_say_so(cli, write):
    err = bad(cli, write("r.yaml", TINY.replace("source: iris", "source: {type: iris, name: wine}")))
    assert "data.source: give the source as `type` or as `name`, not both" in err and "r.yaml:3:" in err


def test_a_bad_source_hides_no_optimizer_typo(cli, write):
    recipe = TINY.replace("source: iris", "source: irs") + "  optimizer: {nmae: adam}\n"
    err = bad(cli, write("r.yaml", recipe))
    assert "unknown dataset 'irs'" in err and "train.optimizer.nmae" in err and "did you mean 'name'" in err


@pytest.mark.parametrize("extra, path", [
    ("search: {timeout: .inf, space: {}}", "search.timeout"),
    ("export: {onnx: {tolerance: {atol: .inf}}}", "export.onnx.tolerance.atol"),
    ("check: {tolerance: {rtol: .nan}}", "check.tolerance.rtol"),
])
def test_every_section_refuses_inf_and_nan(cli, write, extra, path):
    err = bad(cli, write("r.yaml", TINY + extra + "\n"))
    assert f"{path}: expected a finite number" in err


def test_layer_arguments_refuse_inf(cli, write):
    err = bad(cli, write("r.yaml", TINY.replace("  - relu\n", "  - relu\n  - dropout: .inf\n")))
    assert "dropout.p: expected a finite number, got inf" in err


def test_a_top_level_key_inside_a_section_says_where_it_belongs(cli, write):
    err = bad(cli, write("r.yaml", TINY + "  seed: 3\n"))
    assert "train.seed: unknown key 'seed' here: `seed` belongs at the top level of the recipe" in err
    assert "did you mean 'schedule'" not in err
