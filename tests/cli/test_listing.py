"""`dlcli ls VOCABULARY [NAME]`: every entry with its arguments, did-you-mean, markup-safe, torch-free."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.cli.test_commands import PROBE
from tests.conftest import ROOT


@pytest.fixture
def wide(monkeypatch):
    """A fresh rich console 300 columns wide, so table cells are not wrapped."""
    import dlcli.report.console as console

    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.setattr(console, "_console", None)


def rows(out: str) -> dict[str, list[str]]:
    """First cell -> the cells of each table row of rich's output."""
    cells = [[c.strip() for c in line.strip("│").split("│")] for line in out.splitlines() if line.startswith("│")]
    return {c[0]: c for c in cells}


def test_ls_layers_name_shows_each_argument(cli, wide):
    """A user had to read `dlcli schema` to find gru's arguments."""
    r = cli("ls", "layers", "gru")
    assert r.code == 0, r.err
    table = rows(r.out)
    assert table["hidden"][1:4] == ["integer", ">= 1", "required"]
    assert table["num_layers"][3] == "1" and table["bidirectional"][1:4] == ["boolean", "", "false"]
    assert table["dropout"][2] == "[0, 1)"
    assert "sequence" in table["return"][1] and table["return"][3] == "last" and table["return"][4]
    assert "main argument: hidden" in r.out and "Gated recurrent unit" in r.out


def test_ls_optimizer_name_shows_types_bounds_and_defaults(cli, wide):
    r = cli("ls", "optimizers", "adamw")
    assert r.code == 0, r.err
    table = rows(r.out)
    assert table["lr"][1:5] == ["number", "> 0", "0.001", "learning rate"]
    assert table["weight_decay"][2:4] == [">= 0", "0.01"]
    assert table["betas"][1:4] == ["[number, number]", "each [0, 1)", "[0.9, 0.999]"]
    assert table["eps"][2] == "> 0"


def test_ls_json_name_is_one_document_with_every_argument(cli):
    from dlcli.engine.schedules import schedules

    r = cli("ls", "schedules", "onecycle", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["vocabulary"] == "schedules" and doc["name"] == "onecycle" and doc["description"]
    assert [a["name"] for a in doc["arguments"]] == list(schedules.get("onecycle").Args.model_fields)
    pct = next(a for a in doc["arguments"] if a["name"] == "pct_start")
    assert pct == {"name": "pct_start", "type": "number", "bounds": "(0, 1)", "required": False, "default": 0.3,
                   "description": pct["description"]} and pct["description"]
    max_lr = next(a for a in doc["arguments"] if a["name"] == "max_lr")
    assert max_lr["type"] == "number | null" and max_lr["bounds"] == "> 0" and max_lr["default"] is None


def test_ls_name_of_an_entry_without_arguments(cli, wide):
    r = cli("ls", "metrics", "accuracy")
    assert r.code == 0, r.err
    assert "no arguments" in r.out and "Fraction of samples" in r.out
    assert json.loads(cli("ls", "metrics", "accuracy", "--json").out)["arguments"] == []


def test_every_entry_of_every_vocabulary_can_be_described(cli):
    from dlcli.vocab import registries

    for vocabulary, registry in registries().items():
        for name in registry.names():
            r = cli("ls", vocabulary, name, "--json")
            assert r.code == 0, (vocabulary, name, r.err)
            doc = json.loads(r.out)
            fields = getattr(getattr(registry.get(name), "Args", None), "model_fields", {})
            assert [a["name"] for a in doc["arguments"]] == list(fields), (vocabulary, name)
            assert all(a["type"] for a in doc["arguments"]), (vocabulary, name, doc["arguments"])


@pytest.mark.parametrize("vocabulary, name, near", [("optimizers", "adamww", "adamw"), ("layers", "gur", "gru"),
                                                    ("augmentations", "hflipp", "hflip")])
def test_ls_unknown_name_suggests_and_exits_2(cli, vocabulary, name, near):
    r = cli("ls", vocabulary, name)
    assert r.code == 2
    assert f"'{name}'" in r.err and f"did you mean '{near}'" in r.err and "Traceback" not in r.err
    assert r.out == ""


def test_ls_unknown_vocabulary_with_a_name_exits_2(cli):
    r = cli("ls", "optimisers", "adam")
    assert r.code == 2 and "did you mean 'optimizers'" in r.err and r.out == ""


def test_ls_prints_brackets_of_descriptions_literally(cli, wide):
    """Rich markup used to swallow '[min, max]' in hardtanh's description."""
    from dlcli.nn import layers

    r = cli("ls", "layers")
    assert r.code == 0, r.err
    assert "[min, max]" in layers.docs()["hardtanh"]
    assert "[min, max]" in rows(r.out)["hardtanh"][-1]
    detail = cli("ls", "layers", "hardtanh")
    assert "[min, max]" in detail.out


def test_ls_lists_each_entrys_arguments(cli, wide):
    r = cli("ls", "layers")
    table = rows(r.out)
    assert table["gru"][1].startswith("hidden, ") and "bidirectional" in table["gru"][1]
    assert rows(cli("ls", "optimizers").out)["sgd"][1] == "lr, weight_decay, momentum, nesterov, dampening"


def test_ls_text_escapes_markup_in_argument_descriptions(cli, wide):
    """`[low, high] zoom ...` in random_affine's scale description must print as written."""
    r = cli("ls", "augmentations", "random_affine")
    assert r.code == 0, r.err
    assert rows(r.out)["scale"][-1].startswith("[low, high]")


@pytest.mark.parametrize("args", [["ls", "layers", "gru"], ["ls", "optimizers", "adamw", "--json"],
                                  ["ls", "augmentations", "mixup"]], ids=" ".join)
def test_ls_name_does_not_import_torch(args):
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    line = [x for x in proc.stderr.splitlines() if x.startswith("PROBE ")]
    assert line, proc.stderr
    result = json.loads(line[-1][len("PROBE "):])
    assert result["code"] in (0, None) and result["torch"] == [], result
