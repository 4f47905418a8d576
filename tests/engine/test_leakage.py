"""Leakage at training time: run.json's report, the warning on stderr, the refusal with check.leakage: error.

Iris rows 101 and 142 are identical; the stratified random split with seed 2 puts 101 in train and
142 in val, seed 0 keeps both in train, and the hash split always keeps them together.
"""
from __future__ import annotations

import json
from pathlib import Path

from dlcli.data.splits import hash_indices
from tests.conftest import TINY

LEAK = {"train_val": 1, "train_test": 0, "val_test": 0, "examples": [{"train": 101, "val": 142}]}
CLEAN = {"train_val": 0, "train_test": 0, "val_test": 0, "examples": []}
MESSAGE = "exact-duplicate samples across splits: train/val 1, train/test 0, val/test 0 (e.g. train row 101 = val row 142)"


def train(cli, write, tmp_path, *sets, json_mode=True):
    recipe = write("tiny.yaml", TINY)
    args = ["train", recipe, "--runs-dir", tmp_path / "runs"] + [a for s in sets for a in ("--set", s)]
    return cli(*args, *(["--json"] if json_mode else []))


def test_warn_is_the_default_records_and_warns_on_stderr(cli, write, tmp_path):
    r = train(cli, write, tmp_path, "seed=2")
    assert r.code == 0, r.err
    record = json.loads(r.out)  # stdout stays one JSON document
    assert record["leakage"] == LEAK
    assert json.loads((Path(record["run"]) / "run.json").read_text())["leakage"] == LEAK
    assert f"warning: {MESSAGE}" in " ".join(r.err.split())


def test_warning_without_json_goes_to_stderr_too(cli, write, tmp_path):
    r = train(cli, write, tmp_path, "seed=2", json_mode=False)
    assert r.code == 0, r.err
    assert "warning:" in r.err and "warning:" not in r.out and "run directory:" in r.out


def test_error_refuses_before_the_run_directory_exists(cli, write, tmp_path):
    r = train(cli, write, tmp_path, "seed=2", "check.leakage=error")
    assert r.code == 2 and r.out == ""
    err = " ".join(r.err.split())
    assert MESSAGE in err and "check.leakage" in err and "method: hash" in err
    assert "Traceback" not in r.err
    assert not (tmp_path / "runs" / "tiny" / "0001").exists()


def test_error_without_duplicates_trains(cli, write, tmp_path):
    r = train(cli, write, tmp_path, "seed=0", "check.leakage=error")
    assert r.code == 0, r.err
    assert json.loads(r.out)["leakage"] == CLEAN and "warning" not in r.err


def test_off_records_no_report_and_stays_silent(cli, write, tmp_path):
    r = train(cli, write, tmp_path, "seed=2", "check.leakage=off")
    assert r.code == 0, r.err
    assert json.loads(r.out)["leakage"] is None and "warning" not in r.err


def test_hash_split_keeps_the_duplicates_together(cli, write, tmp_path):
    from sklearn.datasets import load_iris

    r = train(cli, write, tmp_path, "seed=2", "data.split.method=hash", "check.leakage=error")
    assert r.code == 0, r.err
    record = json.loads(r.out)
    assert record["leakage"] == CLEAN
    splits = json.loads((Path(record["run"]) / "splits.json").read_text())
    expected = hash_indices(load_iris().data, 0.8, 0.1, 0.1, seed=2)
    assert all(splits[k] == expected[k].tolist() for k in expected)
    assert [record["splits"][k] for k in ("train", "val", "test")] == [len(v) for v in expected.values()]
    where = {i: k for k in expected for i in splits[k]}
    assert where[101] == where[142]


def test_unknown_method_and_mode_are_recipe_errors(cli, write):
    recipe = write("bad.yaml", TINY.replace("  source: iris", "  source: iris\n  split: {method: hashed}")
                   + "check: {leakage: fail}\n")
    r = cli("validate", recipe)
    assert r.code == 2
    assert "data.split.method" in r.err and "check.leakage" in r.err
    assert "Traceback" not in r.err
