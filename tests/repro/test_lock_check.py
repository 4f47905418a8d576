"""dlcli lock and dlcli check: lock a run, re-run and compare, strict and tolerant, exit codes."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import TINY

RECIPE = TINY.replace("epochs: 2", "epochs: 3") + """
export:
  onnx: {opset: 18}
check:
  metrics: {test.accuracy: 0.05, test.loss: {rtol: 0.2}}
"""


@pytest.fixture
def locked(cli, write, tmp_path):
    """A recipe with a fresh lock beside it: (recipe, lock path, lock)."""
    recipe = write("tiny.yaml", RECIPE)
    r = cli("lock", recipe, "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.err
    path = tmp_path / "tiny.lock.json"
    assert json.loads(r.out)["lock"] == str(path)
    return recipe, path, json.loads(path.read_text())


def check(cli, tmp_path, recipe, *args):
    r = cli("check", recipe, "--runs-dir", tmp_path / "runs", "--json", *args)
    return r.code, (json.loads(r.out) if r.out.strip() else None), r


def doctor(path, tmp_path, change):
    lock = json.loads(path.read_text())
    change(lock)
    out = tmp_path / "doctored.lock.json"
    out.write_text(json.dumps(lock))
    return out


def test_lock_records_what_a_check_must_reproduce(locked):
    _, _, lock = locked
    assert lock["format"] == 1 and lock["epochs"] == 3 and len(lock["weights"]) == 64
    assert set(lock["trace"]) == {"train.loss", "val.loss"} and len(lock["trace"]["train.loss"]) == 3
    assert {"test.accuracy", "test.loss", "val.accuracy", "train.loss"} <= set(lock["metrics"])
    env = lock["environment"]
    for key in ("python", "torch", "numpy", "onnx", "onnxruntime", "cpu", "cpu_isa", "threads", "world_size", "device"):
        assert key in env
    assert env["deterministic"] is True and env["world_size"] == 1  # lock trains deterministically by default
    assert len(lock["onnx"]["graph_sha256"]) == 64 and lock["onnx"]["opset"] == 18
    assert lock["recipe"]["resolved"]["train"]["epochs"] == 3 and len(lock["recipe"]["sha256"]) == 64


def test_check_passes_strictly_on_the_same_machine(cli, locked, tmp_path):
    recipe, _, lock = locked
    code, report, _ = check(cli, tmp_path, recipe, "--junit", tmp_path / "ci" / "check.xml")
    assert code == 0 and report["passed"] and report["mode"] == "strict"
    assert report["environment_differences"] == [] and not report["recipe_changed"]
    fields = {r["field"]: r for r in report["rows"]}
    assert fields["weights sha256"]["now"] == lock["weights"] and fields["weights sha256"]["status"] == "pass"
    assert fields["trace train.loss"]["now"] == "identical" and fields["onnx graph"]["status"] == "pass"
    suite = ET.parse(tmp_path / "ci" / "check.xml").getroot()
    assert suite.tag == "testsuites" and suite.get("failures") == "0"
    assert int(suite.get("tests")) == len(report["rows"]) == len(suite.findall("./testsuite/testcase"))


def test_a_doctored_lock_fails_with_a_readable_drift_table(cli, locked, tmp_path):
    recipe, path, _ = locked

    def change(lock):
        lock["weights"] = "0" * 64
        lock["trace"]["train.loss"][1] += 0.25
        lock["metrics"]["test.accuracy"] = 0.123

    doctored = doctor(path, tmp_path, change)
    r = cli("check", recipe, "--runs-dir", tmp_path / "runs", "--lock", doctored)
    assert r.code == 1
    assert "strict check" in r.out and "DRIFT: 3 of" in r.out
    for text in ("weights sha256", "trace train.loss epoch 2", "test.accuracy", "locked 0.123, now", "DRIFT  test.accuracy"):
        assert text in r.out
    code, report, _ = check(cli, tmp_path, recipe, "--lock", doctored, "--junit", tmp_path / "j.xml")
    assert code == 1 and not report["passed"]
    assert {r["field"] for r in report["rows"] if r["status"] == "drift"} == {
        "weights sha256", "trace train.loss epoch 2", "test.accuracy"}
    failures = ET.parse(tmp_path / "j.xml").getroot().findall(".//failure")
    assert len(failures) == 3 and "locked 0.123" in failures[-1].get("message")


def test_another_environment_is_checked_with_tolerances_and_named(cli, locked, tmp_path):
    recipe, path, lock = locked

    def change(lk):
        lk["environment"]["cpu"] = "Some Other CPU"
        lk["environment"]["torch"] = "0.0.1"
        lk["weights"] = "f" * 64  # another machine's bits: not held in tolerant mode
        lk["metrics"]["test.accuracy"] += 0.04  # within the recipe's 0.05
        lk["metrics"]["test.loss"] *= 1.15  # within rtol 0.2

    code, report, r = check(cli, tmp_path, recipe, "--lock", doctor(path, tmp_path, change))
    assert code == 0, r.out
    assert report["mode"] == "tolerant" and "cpu, torch" in report["mode_reason"]
    assert [d["field"] for d in report["environment_differences"]] == ["cpu", "torch"]
    fields = {r["field"]: r for r in report["rows"]}
    assert fields["weights sha256"]["status"] == "info" and fields["test.accuracy"]["tolerance"] == "±0.05"
    assert fields["test.loss"]["tolerance"] == "±20%" and "val.accuracy" not in fields  # only check.metrics

    def too_far(lk):
        change(lk)
        lk["metrics"]["test.loss"] *= 2

    code, report, _ = check(cli, tmp_path, recipe, "--lock", doctor(path, tmp_path, too_far))
    assert code == 1 and [r["field"] for r in report["rows"] if r["status"] == "drift"] == ["test.loss"]


def test_forced_modes(cli, locked, tmp_path):
    recipe, path, _ = locked
    code, report, _ = check(cli, tmp_path, recipe, "--tolerant")
    assert code == 0 and report["mode"] == "tolerant" and report["mode_reason"].startswith("--tolerant")
    doctored = doctor(path, tmp_path, lambda lk: lk["environment"].update(threads=64))
    code, report, _ = check(cli, tmp_path, recipe, "--lock", doctored, "--strict")
    assert code == 0 and report["mode"] == "strict" and "threads" in report["mode_reason"]
    r = cli("check", recipe, "--strict", "--tolerant")
    assert r.code == 2 and "exclude each other" in r.err


def test_check_says_the_recipe_changed(cli, locked, tmp_path):
    recipe, path, _ = locked
    recipe.write_text(recipe.read_text().replace("epochs: 3", "epochs: 2"))
    r = cli("check", recipe, "--runs-dir", tmp_path / "runs", "--lock", path)
    assert r.code == 1
    assert "the recipe changed since the lock" in r.out and "train.epochs: 3 -> 2" in r.out
    assert "trace train.loss epoch 3" in r.out  # the lock's third epoch is missing now


def test_lock_of_a_run_directory_matches_the_lock_of_its_recipe(cli, locked, tmp_path):
    recipe, _, lock = locked
    run = tmp_path / "runs" / "tiny" / "0001"
    r = cli("lock", run, "--out", tmp_path / "again.json", "--json")
    assert r.code == 0, r.err
    again = json.loads((tmp_path / "again.json").read_text())
    for key in ("weights", "trace", "metrics", "environment", "onnx", "recipe", "data", "splits"):
        assert again[key] == lock[key], key


def test_train_is_not_deterministic_by_default_but_lock_and_check_are(cli, write, tmp_path):
    from tests.engine.test_training import train

    record = train(cli, write("t.yaml", TINY), tmp_path / "t")
    assert record["determinism"]["deterministic"] is False
    assert record["environment"]["deterministic"] is False
    off = write("off.yaml", TINY.replace("epochs: 2", "epochs: 1\n  deterministic: false"))
    assert cli("lock", off, "--runs-dir", tmp_path / "runs").code == 0
    run = json.loads((tmp_path / "runs" / "tiny" / "0001" / "run.json").read_text())
    assert run["determinism"]["deterministic"] is False  # the recipe's own choice wins


@pytest.mark.parametrize("content, message", [
    (None, "no lock file at"),
    ("{not json", "invalid JSON"),
    ('{"format": 1}', "missing recipe"),
])
def test_unusable_lock_files_are_exit_2_before_training(cli, write, tmp_path, content, message):
    recipe = write("tiny.yaml", RECIPE)
    if content is not None:
        (tmp_path / "tiny.lock.json").write_text(content)
    r = cli("check", recipe, "--runs-dir", tmp_path / "runs")
    assert r.code == 2 and message in r.err and "Traceback" not in r.err
    assert not (tmp_path / "runs").exists()


def test_an_unfinished_run_cannot_be_locked(cli, write, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.yaml").write_text(RECIPE)
    (run / "run.json").write_text(json.dumps({"status": "interrupted"}))
    r = cli("lock", run, "--out", tmp_path / "x.json")
    assert r.code == 2 and "has not completed (status: interrupted)" in r.err
