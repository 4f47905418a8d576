"""Hostile inputs to `dlcli lock` / `dlcli check`: damaged locks, damaged run directories, unusable
--junit paths, and the JUnit report that CI reads on every exit (0, 1 and 2)."""
from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import ROOT, TINY

ONE_EPOCH = TINY.replace("epochs: 2", "epochs: 1")


def valid_lock(**changes) -> dict:
    """A structurally valid lock that no run reproduces (every digest is made up)."""
    lock = {"format": 1, "recipe": {"name": "tiny", "sha256": "0" * 64, "resolved": {"name": "tiny"}},
            "data": "1" * 64, "splits": "2" * 64, "environment": {"python": "0.0"},
            "trace": {"train.loss": [1.0]}, "metrics": {"test.accuracy": 0.5}, "weights": "3" * 64}
    lock.update(changes)
    return lock


@pytest.fixture
def recipe(write):
    """recipes/tiny-ci.yaml-like: the file stem differs from the recipe's name on purpose."""
    return write("tiny-ci.yaml", ONE_EPOCH)


def check(cli, tmp_path, recipe, lock_text, *args):
    path = tmp_path / "given.lock.json"
    path.write_text(lock_text)
    return cli("check", recipe, "--lock", path, "--runs-dir", tmp_path / "runs", *args)


def junit_suite(path):
    """The one <testsuite> of a JUnit file, after checking the document's shape."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp"))
    assert suite.get("hostname")
    return suite


# --- the lock's structure is checked before any training --------------------------------------

@pytest.mark.parametrize("text, key", [
    ("null", "expected a JSON object, got null"),
    ("[1, 2]", "expected a JSON object, got array"),
    (json.dumps(valid_lock(trace=[1.0, 2.0])), "trace: expected an object, got array"),
    (json.dumps(valid_lock(metrics={"test.accuracy": "0.9"})), 'metrics["test.accuracy"]: expected a number, got string'),
    (json.dumps(valid_lock(trace={"train.loss": [1.0, "x"]})), 'trace["train.loss"][1]: expected a number'),
    (json.dumps(valid_lock(environment=None)), "environment: expected an object, got null"),
    (json.dumps(valid_lock(weights=12)), "weights: expected a string, got number"),
    (json.dumps(valid_lock(recipe={"name": "tiny", "sha256": "0"})), "missing recipe.resolved"),
    (json.dumps(valid_lock(onnx=["graph"])), "onnx: expected an object, got array"),
    (json.dumps(valid_lock(metrics={"test.accuracy": True})), 'metrics["test.accuracy"]: expected a number, got boolean'),
])
def test_a_lock_of_the_wrong_structure_is_exit_2_before_training(cli, recipe, tmp_path, text, key):
    r = check(cli, tmp_path, recipe, text)
    assert r.code == 2, r.err
    assert "given.lock.json" in r.err and key in r.err and "dlcli lock" in r.err
    assert "Traceback" not in r.err
    assert not (tmp_path / "runs").exists()  # nothing was trained


def test_a_lock_of_a_future_format_names_the_format(cli, recipe, tmp_path):
    r = check(cli, tmp_path, recipe, json.dumps({"format": 7, "whatever": []}))
    assert r.code == 2 and "lock format 7" in r.err and not (tmp_path / "runs").exists()


# --- the --junit path is checked before any training ------------------------------------------

def test_a_junit_path_that_is_a_directory_is_exit_2_before_training(cli, recipe, tmp_path):
    (tmp_path / "reports").mkdir()
    r = check(cli, tmp_path, recipe, json.dumps(valid_lock()), "--junit", tmp_path / "reports")
    assert r.code == 2 and "reports" in r.err and "is a directory" in r.err
    assert not (tmp_path / "runs").exists()


def test_a_junit_path_under_a_file_is_exit_2_before_training(cli, recipe, tmp_path):
    (tmp_path / "reports").write_text("not a folder")
    r = check(cli, tmp_path, recipe, json.dumps(valid_lock()), "--junit", tmp_path / "reports" / "x.xml")
    assert r.code == 2 and "reports" in r.err and "not a directory" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_junit_path_in_a_read_only_folder_is_exit_2_before_training(cli, recipe, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        r = check(cli, tmp_path, recipe, json.dumps(valid_lock()), "--junit", folder / "x.xml")
    finally:
        folder.chmod(0o700)
    assert r.code == 2 and "not writable" in r.err and not (tmp_path / "runs").exists()


def test_a_lock_out_path_that_is_a_directory_is_exit_2_before_training(cli, recipe, tmp_path):
    r = cli("lock", recipe, "--out", tmp_path, "--runs-dir", tmp_path / "runs")
    assert r.code == 2 and "--out" in r.err and "is a directory" in r.err and "tiny-ci.lock.json" in r.err
    assert not (tmp_path / "runs").exists()


def test_locking_a_missing_recipe_creates_no_folder(cli, tmp_path):
    r = cli("lock", tmp_path / "nowhere" / "x.yaml", "--runs-dir", tmp_path / "runs")
    assert r.code == 2 and "recipe not found" in r.err and not (tmp_path / "nowhere").exists()


# --- the JUnit report appears on every exit ---------------------------------------------------

def test_a_bad_lock_still_writes_a_junit_error_case(cli, recipe, tmp_path):
    report = tmp_path / "ci" / "tiny.xml"
    r = check(cli, tmp_path, recipe, "null", "--junit", report)
    assert r.code == 2
    suite = junit_suite(report)
    assert suite.get("errors") == "1" and suite.get("failures") == "0" and suite.get("tests") == "1"
    (case,) = suite.findall("testcase")
    assert case.get("classname") == "dlcli.check.tiny"  # the recipe's name, not its file name
    (error,) = case.findall("error")
    assert "given.lock.json" in error.get("message") and "null" in error.get("message")


def test_a_bad_recipe_still_writes_a_junit_error_case(cli, write, tmp_path):
    bad = write("tiny-ci.yaml", ONE_EPOCH.replace("batch_size", "batch_sise"))
    report = tmp_path / "tiny.xml"
    r = check(cli, tmp_path, bad, json.dumps(valid_lock()), "--junit", report)
    assert r.code == 2 and "batch_sise" in r.err
    (case,) = junit_suite(report).findall("testcase")
    (error,) = case.findall("error")
    assert "tiny-ci.yaml" in error.get("message") and "batch_size" in error.get("message")
    assert case.get("classname") == "dlcli.check.tiny"


def test_a_control_character_in_a_recipe_key_still_makes_a_valid_report(cli, write, tmp_path):
    hostile = write("tiny-ci.yaml", ONE_EPOCH + '"bad\\akey": 1\n')
    report = tmp_path / "tiny.xml"
    r = check(cli, tmp_path, hostile, json.dumps(valid_lock()), "--junit", report)
    assert r.code == 2
    (error,) = junit_suite(report).findall("testcase/error")  # parses: XML 1.0 cannot hold \a
    assert "bad\ufffdkey" in error.get("message")


def test_conflicting_flags_still_write_a_junit_error_case(cli, recipe, tmp_path):
    report = tmp_path / "tiny.xml"
    r = check(cli, tmp_path, recipe, json.dumps(valid_lock()), "--strict", "--tolerant", "--junit", report)
    assert r.code == 2
    assert "exclude each other" in junit_suite(report).find("testcase/error").get("message")


def test_a_failed_training_still_writes_a_junit_error_case(cli, write, tmp_path):
    diverges = write("tiny-ci.yaml", ONE_EPOCH + "  optimizer: {name: sgd, lr: 1.0e+30}\n")
    report = tmp_path / "tiny.xml"
    r = check(cli, tmp_path, diverges, json.dumps(valid_lock()), "--junit", report)
    assert r.code == 1 and "nan" in r.err
    suite = junit_suite(report)
    assert suite.get("errors") == "1"
    (error,) = suite.findall("testcase/error")
    assert "nan" in error.get("message") and error.get("type") == "RunFailed"


def test_a_drift_writes_failures_with_timestamp_hostname_and_the_recipe_name(cli, recipe, tmp_path):
    report = tmp_path / "tiny.xml"
    r = check(cli, tmp_path, recipe, json.dumps(valid_lock()), "--junit", report, "--json")
    assert r.code == 1
    suite = junit_suite(report)
    failures = suite.findall("testcase/failure")
    assert failures and suite.get("failures") == str(len(failures)) and suite.get("errors") == "0"
    assert {c.get("classname") for c in suite.findall("testcase")} == {"dlcli.check.tiny"}
    assert any("locked " + "1" * 64 in f.get("message") for f in failures)  # the data digest
    assert json.loads(r.out)["passed"] is False


# --- damaged run directories given to `dlcli lock RUN` ----------------------------------------

@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.yaml").write_text(ONE_EPOCH)
    return run


def test_lock_of_a_run_with_a_truncated_run_json_is_exit_2(cli, run_dir, tmp_path):
    (run_dir / "run.json").write_text('{"status": "compl')
    r = cli("lock", run_dir, "--out", tmp_path / "x.json")
    assert r.code == 2 and "run.json is damaged" in r.err and "dlcli lock" in r.err
    assert "Traceback" not in r.err and not (tmp_path / "x.json").exists()


def test_lock_of_a_run_without_run_json_is_exit_2(cli, run_dir, tmp_path):
    r = cli("lock", run_dir, "--out", tmp_path / "x.json")
    assert r.code == 2 and "run.json is missing" in r.err and not (tmp_path / "x.json").exists()


def test_lock_of_a_run_json_without_a_field_names_it(cli, run_dir, tmp_path):
    record = {"status": "completed", "environment": {}, "name": "tiny", "seed": 0, "data": {"digest": "d"},
              "splits": {"digest": "s"}, "metrics": {}, "weights": {}, "epochs_completed": 1}
    (run_dir / "run.json").write_text(json.dumps(record))
    r = cli("lock", run_dir, "--out", tmp_path / "x.json")
    assert r.code == 2 and "run.json" in r.err and "weights.sha256" in r.err and "Traceback" not in r.err


def test_lock_of_a_run_with_a_damaged_metrics_file_is_exit_2(cli, run_dir, tmp_path):
    record = {"status": "completed", "environment": {}, "name": "tiny", "seed": 0, "data": {"digest": "d"},
              "splits": {"digest": "s"}, "metrics": {}, "weights": {"sha256": "w"}, "epochs_completed": 1}
    (run_dir / "run.json").write_text(json.dumps(record))
    (run_dir / "metrics.jsonl").write_text('{"epoch": 1, "train.loss": 1.0}\n{"epoch": 2, "tra\n')
    r = cli("lock", run_dir, "--out", tmp_path / "x.json")
    assert r.code == 2 and "metrics.jsonl" in r.err and "line 2" in r.err and "Traceback" not in r.err


def test_lock_of_a_run_with_a_damaged_recipe_yaml_is_exit_2(cli, run_dir, tmp_path):
    record = {"status": "completed", "environment": {}, "name": "tiny"}
    (run_dir / "run.json").write_text(json.dumps(record))
    (run_dir / "recipe.yaml").write_text("data: [1\n")
    r = cli("lock", run_dir, "--out", tmp_path / "x.json")
    assert r.code == 2 and "recipe.yaml is damaged" in r.err and "dlcli lock RECIPE" in r.err
    assert "Traceback" not in r.err


# --- the shipped workflow ---------------------------------------------------------------------

def test_the_shipped_workflow_reads_only_and_pins_every_action_by_commit():
    import yaml

    text = (ROOT / "docs" / "ci" / "dlcli-check.yml").read_text()
    workflow = yaml.safe_load(text)
    assert workflow["permissions"] == {"contents": "read"}
    steps = workflow["jobs"]["check"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False
    uses = re.findall(r"uses:\s*(\S+)(.*)", text)
    assert len(uses) == sum("uses" in s for s in steps) == 3
    for action, comment in uses:
        assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", comment), (action, comment)
