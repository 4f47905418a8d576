"""The commands end to end: help, lazy torch, schema, show, ls, recipes, doctor, plain and --json output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY

DIGITS_CNN = ROOT / "recipes" / "digits-cnn.yaml"


def one_json(text: str):
    """The whole of stdout must be exactly one JSON document (json.loads refuses anything extra)."""
    return json.loads(text)


def dlcli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m dlcli ARGS` in a fresh interpreter, in the repository root, with a clean colour env."""
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE",
                                                              "TTY_INTERACTIVE", "COLUMNS", "TERM")}
    return subprocess.run([sys.executable, "-m", "dlcli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=120)


@pytest.fixture
def wide(monkeypatch):
    """A fresh rich console 300 columns wide, so table cells are not wrapped."""
    import dlcli.report.console as console

    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.setattr(console, "_console", None)


# ----------------------------------------------------------------------------------------------------- help

def command_paths(app=None, prefix: tuple = ()) -> list[list[str]]:
    """Every command and group of the app, walked from its Typer registrations (so new ones are included)."""
    from dlcli.cli.app import app as root

    app = app or root
    paths = [list(prefix)]
    for c in app.registered_commands:
        paths.append([*prefix, c.name or c.callback.__name__.replace("_", "-")])
    for g in app.registered_groups:
        paths.extend(command_paths(g.typer_instance, (*prefix, g.name)))
    return paths


COMMANDS = command_paths()


def test_the_documented_commands_are_all_there():
    assert {" ".join(c) for c in COMMANDS} >= {"", "validate", "show", "train", "eval", "schema", "ls", "doctor",
                                               "recipes", "recipes ls", "recipes cat", "recipes cp", "lock", "check"}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "dlcli")
def test_help_exits_0_with_an_example(cli, command):
    r = cli(*command, "--help")
    assert r.code == 0, r.err
    assert "Usage:" in r.out and "Example:" in r.out


# ------------------------------------------------------------------------------------------------ lazy torch

PROBE = """
import json, sys
from dlcli.cli.app import main
sys.argv = ["dlcli", *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as e:
    code = e.code
sys.stderr.write("\\nPROBE " + json.dumps({"code": code, "torch": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))[:3]}) + "\\n")
"""


def probe(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    line = [x for x in proc.stderr.splitlines() if x.startswith("PROBE ")]
    assert line, proc.stderr
    return json.loads(line[-1][len("PROBE "):])


@pytest.mark.parametrize("args", [["--help"], ["validate", "recipes/digits-cnn.yaml"], ["ls", "layers"]],
                         ids=" ".join)
def test_command_does_not_import_torch(args):
    result = probe(*args)
    assert result["code"] in (0, None)
    assert result["torch"] == [], f"dlcli {' '.join(args)} imported {result['torch']}"


def test_the_torch_probe_can_see_torch():
    """The probe above would notice torch: doctor needs it and imports it."""
    result = probe("doctor", "--json")
    assert result["code"] in (0, None) and "torch" in result["torch"]


# ---------------------------------------------------------------------------------------------------- schema


def test_schema_is_a_json_schema_of_a_recipe(cli):
    from dlcli.nn import layers

    r = cli("schema")
    assert r.code == 0, r.err
    schema = one_json(r.out)
    assert schema["title"] == "dlcli recipe"
    assert {"data", "model", "train"} <= set(schema["properties"])
    assert schema["then"]["required"] == ["data"] and "name" not in schema["required"]  # without extends; name defaults to the stem
    assert schema["then"]["anyOf"] == [{"required": ["model"]}, {"required": ["models"]}]  # one network, or one per role
    items = schema["properties"]["model"]["anyOf"][0]["items"]
    text = json.dumps(items)
    for name in layers.names():
        assert f'"{name}"' in text, name
    bare = items["anyOf"][0]["enum"]
    assert bare == layers.names()


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_recipes_validate_against_the_schema(cli, recipe):
    jsonschema = pytest.importorskip("jsonschema")
    from dlcli.recipe.yamlio import parse

    schema = one_json(cli("schema").out)
    jsonschema.Draft202012Validator.check_schema(schema)
    doc, _ = parse(recipe.read_text(), str(recipe))
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
    assert errors == []


def test_schema_rejects_what_validate_rejects(cli):
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(one_json(cli("schema").out))
    ok = {"data": {"source": "iris"}, "model": [{"linear": 8}, "relu", {"conv2d": {"out": "${vars.width}"}}]}
    assert list(validator.iter_errors(ok)) == []
    for bad in ({"data": {"source": "iris"}, "model": ["rleu"]},
                {"data": {"source": "iris"}, "model": [{"linear": {"out": 3, "bais": False}}]},
                {"data": {"source": "iris"}, "model": ["relu"], "trian": {}},
                {"data": {"source": "iris"}, "model": ["relu"], "train": {"optimizer": "adamm"}},
                {"data": {"source": "irsi"}, "model": ["relu"]}):
        assert list(validator.iter_errors(bad)), bad


# ------------------------------------------------------------------------------------------------------ show


def built_parameter_count(recipe: Path) -> int:
    from dlcli.nn.model import build_model
    from dlcli.recipe.check import load_recipe

    plans = load_recipe(recipe, []).parts.plans.values()  # every network the recipe writes
    return sum(p.numel() for plan in plans for p in build_model(plan).parameters())


def test_show_prints_the_layer_table(cli, wide):
    r = cli("show", DIGITS_CNN)
    assert r.code == 0, r.err
    assert "source: digits" in r.out  # the resolved recipe comes first
    assert "${vars.width}" not in r.out  # ... interpolated
    rows = [line for line in r.out.splitlines() if line.startswith("│")]
    cells = [[c.strip() for c in row.strip("│").split("│")] for row in rows]
    layer_names = [c[0] for c in cells]
    assert layer_names == ["conv2d", "batchnorm", "relu", "residual", "conv2d", "batchnorm", "relu",
                           "maxpool", "flatten", "dropout", "linear", "total"]
    outputs = [c[1] for c in cells]
    assert outputs[:8] == ["(32, 8, 8)"] * 7 + ["(32, 4, 4)"]
    assert outputs[8:11] == ["(512,)", "(512,)", "(10,)"]
    total = built_parameter_count(DIGITS_CNN)
    assert total == 14_826  # 320 + 64 + (9,248 + 64) + 5,130
    assert cells[-1][2] == f"{total:,}"
    assert cells[0][2] == "320" and cells[-2][2] == "5,130"


def test_show_follows_overrides(cli, wide):
    r = cli("show", DIGITS_CNN, "--set", "vars.width=4")
    assert r.code == 0, r.err
    assert "(4, 8, 8)" in r.out and "(32, 8, 8)" not in r.out


def test_show_json_gives_layers_and_parameters(cli):
    r = cli("show", DIGITS_CNN, "--json")
    assert r.code == 0, r.err
    doc = one_json(r.out)
    assert doc["parameters"] == built_parameter_count(DIGITS_CNN)
    assert doc["recipe"]["name"] == "digits-cnn"
    top = [row for row in doc["layers"] if not row["layer"].startswith(" ")]
    assert [row["layer"] for row in top] == ["conv2d", "batchnorm", "relu", "residual", "maxpool", "flatten",
                                            "dropout", "linear"]
    assert sum(row["params"] for row in top) == doc["parameters"]
    assert top[0]["output"] == "(32, 8, 8)" and top[-1]["output"] == "(10,)"
    assert all(isinstance(row["path"], list) for row in doc["layers"])


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.stem)
def test_show_json_rows_add_up_for_every_shipped_recipe(cli, recipe):
    doc = one_json(cli("show", recipe, "--json").out)
    top = [row for row in doc["layers"] if not row["layer"].startswith(" ")]
    assert top and sum(row["params"] for row in top) == doc["parameters"] == built_parameter_count(recipe)
    nested = [row for row in doc["layers"] if row["layer"].startswith(" ")]
    assert all(row["params"] is None for row in nested)  # counted once, in their block


# -------------------------------------------------------------------------------------------------------- ls


def test_ls_layers_lists_each_with_its_docstring(cli, wide):
    from dlcli.nn import layers

    r = cli("ls", "layers")
    assert r.code == 0, r.err
    docs = layers.docs()
    row = next(line for line in r.out.splitlines() if line.startswith("│ conv2d "))
    assert docs["conv2d"] in row
    for name in layers.names():
        assert f"│ {name} " in r.out, name


def test_ls_json_optimizers(cli):
    r = cli("ls", "--json", "optimizers")
    assert r.code == 0, r.err
    doc = one_json(r.out)
    assert isinstance(doc, dict)
    assert {"sgd", "adam", "adamw", "rmsprop", "adagrad"} <= set(doc)
    assert all(isinstance(v, str) and v for v in doc.values())


@pytest.mark.parametrize("vocabulary", ["layers", "architectures", "initializers", "datasets", "augmentations",
                                        "normalizations", "optimizers", "schedules", "losses", "metrics", "tasks",
                                        "callbacks"])
def test_ls_json_every_vocabulary(cli, vocabulary):
    from dlcli.vocab import registry

    r = cli("ls", vocabulary, "--json")
    assert r.code == 0, r.err
    assert one_json(r.out) == registry(vocabulary).docs()


def test_ls_unknown_vocabulary_suggests(cli):
    r = cli("ls", "layres")
    assert r.code == 2
    assert "did you mean 'layers'" in r.err and "Traceback" not in r.err
    assert r.out == ""


# --------------------------------------------------------------------------------------------------- recipes


def test_recipes_ls(cli, wide):
    r = cli("recipes", "ls")
    assert r.code == 0, r.err
    assert "digits-cnn" in r.out and "residual CNN" in r.out
    doc = one_json(cli("recipes", "ls", "--json").out)
    assert {p.stem for p in (ROOT / "recipes").glob("*.yaml")} == set(doc)
    assert doc["digits-cnn"].startswith("A small residual CNN")


def test_recipes_cat_prints_yaml_that_parses(cli):
    from dlcli.recipe.yamlio import parse

    r = cli("recipes", "cat", "digits-cnn")
    assert r.code == 0, r.err
    assert r.out == DIGITS_CNN.read_text()
    doc, _ = parse(r.out, "<stdout>")
    assert doc["name"] == "digits-cnn" and isinstance(doc["model"], list)
    assert cli("recipes", "cat", "digits-cnn.yaml").out == r.out


def test_recipes_cp_copies_and_refuses_to_overwrite(cli, tmp_path):
    dest = tmp_path / "mine.yaml"
    r = cli("recipes", "cp", "digits-cnn", dest)
    assert r.code == 0, r.err
    assert dest.read_text() == DIGITS_CNN.read_text()
    assert cli("validate", dest).code == 0
    dest.write_text("# my edits\n")
    r = cli("recipes", "cp", "digits-cnn", dest)
    assert r.code == 2 and "exists" in r.err and "Traceback" not in r.err
    assert dest.read_text() == "# my edits\n"


def test_recipes_cp_into_a_folder(cli, tmp_path):
    r = cli("recipes", "cp", "iris-mlp", tmp_path)
    assert r.code == 0, r.err
    assert (tmp_path / "iris-mlp.yaml").read_text() == (ROOT / "recipes" / "iris-mlp.yaml").read_text()
    assert cli("recipes", "cp", "iris-mlp", tmp_path).code == 2


def test_recipes_cp_into_a_missing_folder_is_exit_2(cli, tmp_path):
    r = cli("recipes", "cp", "iris-mlp", tmp_path / "no" / "such" / "mine.yaml")
    assert r.code == 2 and "Traceback" not in r.err
    assert not (tmp_path / "no").exists()


def test_recipes_ls_reads_recipes_the_way_the_loader_does(cli, tmp_path, monkeypatch):
    """`${...}` inside a flow mapping is valid in a recipe (not in plain YAML); one bad file spoils nothing."""
    import dlcli.cli.recipes as recipes

    (tmp_path / "flow.yaml").write_text("description: Flow interpolation.\nvars: {w: 4}\ndata: {source: iris}\n"
                                        "model:\n  - linear: {out: ${vars.w}, bias: true}\n")
    (tmp_path / "broken.yaml").write_text("description: [unclosed\n")
    (tmp_path / "bare.yaml").write_text("data: {source: iris}\nmodel: [relu]\n")
    monkeypatch.setattr(recipes, "catalog_dir", lambda: tmp_path)
    r = cli("recipes", "ls", "--json")
    assert r.code == 0, r.err
    doc = one_json(r.out)
    assert doc["flow"] == "Flow interpolation." and doc["bare"] == ""
    assert set(doc) == {"flow", "broken", "bare"}


@pytest.mark.parametrize("command", [["cat", "digits-cn"], ["cp", "digits-cn", "x.yaml"]])
def test_recipes_unknown_name_suggests(cli, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("recipes", *command)
    assert r.code == 2
    assert "did you mean 'digits-cnn'" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "x.yaml").exists()


# ---------------------------------------------------------------------------------------------------- doctor


def test_doctor_json_reports_versions_and_device(cli):
    import torch

    r = cli("doctor", "--json")
    assert r.code == 0, r.err
    doc = one_json(r.out)
    assert doc["versions"]["torch"] == torch.__version__
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if expected == "cpu" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        expected = "mps"
    assert doc["device"]["type"] == expected  # "cpu" on a machine without an accelerator


def test_doctor_text(cli):
    r = cli("doctor")
    assert r.code == 0, r.err
    assert "torch" in r.out and "device" in r.out


# ------------------------------------------------------------------------------------------ train/eval output


def test_train_prints_plain_lines_when_piped_then_eval(cli, write, tmp_path):
    r = cli("train", write("tiny.yaml", TINY), "--runs-dir", tmp_path / "runs")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert any(line.startswith("epoch 1/2 ") and "train.loss" in line for line in lines), r.out
    assert any(line.startswith("epoch 2/2 ") for line in lines), r.out
    assert "\x1b[" not in r.out and "\x1b[" not in r.err
    assert "\r" not in r.out  # no progress bar redraws
    run = tmp_path / "runs" / "tiny" / "0001"
    assert str(run) in r.out.replace("\n", "")  # a long temp path wraps at the console's width

    r = cli("eval", run, "--split", "val")
    assert r.code == 0, r.err
    assert "accuracy" in r.out and "\x1b[" not in r.out


def test_train_and_eval_json_print_one_document(cli, write, tmp_path):
    r = cli("train", write("tiny.yaml", TINY), "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.err
    record = one_json(r.out)  # no progress lines mixed in
    assert record["status"] == "completed" and record["epochs_completed"] == 2
    r = cli("eval", record["run"], "--split", "test", "--json")
    assert r.code == 0, r.err
    result = one_json(r.out)
    assert result["split"] == "test" and result["samples"] > 0
    assert 0.0 <= result["metrics"]["accuracy"] <= 1.0
    assert result["metrics"]["loss"] == pytest.approx(record["metrics"]["test"]["loss"], rel=1e-4)


def test_eval_of_a_missing_run_is_exit_2(cli, tmp_path):
    r = cli("eval", tmp_path / "nope", "--json")
    assert r.code == 2 and "Traceback" not in r.err and r.out == ""


def test_train_needs_a_recipe_or_resume(cli):
    r = cli("train")
    assert r.code == 2 and "Traceback" not in r.err


@pytest.mark.parametrize("args", [["validate", DIGITS_CNN], ["show", DIGITS_CNN], ["ls", "metrics"], ["doctor"],
                                  ["recipes", "ls"]], ids=lambda a: a[0])
def test_json_flag_prints_exactly_one_document(cli, args):
    r = cli(*args, "--json")
    assert r.code == 0, r.err
    doc = one_json(r.out)
    assert isinstance(doc, dict) and doc


def test_validate_json(cli):
    doc = one_json(cli("validate", DIGITS_CNN, "--json").out)
    assert doc["valid"] is True and doc["task"] == "classification"
    assert doc["input_shape"] == [1, 8, 8] and doc["output_shape"] == [10]


# ---------------------------------------------------------------------------------------------------- colour


def test_no_color_output_has_no_escape_codes():
    proc = dlcli("ls", "layers", env={"NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "conv2d" in proc.stdout and "\x1b[" not in proc.stdout


def test_no_color_wins_over_a_forced_terminal():
    forced = {"FORCE_COLOR": "1", "TERM": "xterm-256color"}
    coloured = dlcli("ls", "layres", env=forced)
    assert coloured.returncode == 2 and "\x1b[1;31m" in coloured.stderr  # the control: colour is on
    plain = dlcli("ls", "layres", env={**forced, "NO_COLOR": "1"})
    assert plain.returncode == 2 and "did you mean 'layers'" in plain.stderr
    assert ";31m" not in plain.stderr and "\x1b[31m" not in plain.stderr
