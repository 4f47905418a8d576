"""dlcli tune against hostile input: cut journals, bad storages and study names, budgets, all-failed
studies, search spaces that could never run; and what a study tells Optuna's own tools."""
from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import TINY

SEARCH = TINY.replace("epochs: 2", "epochs: 1") + """
search:
  trials: 2
  objective: {metric: val.accuracy}
  sampler: random
  pruner: none
  space:
    train.optimizer.lr: {low: 1.0e-3, high: 1.0e-1, log: true}
    model.0.linear: {choices: [4, 8, 16]}
"""
LR = "{low: 1.0e-3, high: 1.0e-1, log: true}"


def tune(cli, recipe, studies, *extra):
    r = cli("tune", recipe, "--studies-dir", studies, "--json", *extra)
    assert r.code == 0, r.err
    return json.loads(r.out)


def flat(text: str) -> str:
    return " ".join(text.split())


def load_journal_study(path):
    import optuna
    from optuna.storages.journal import JournalFileBackend

    return optuna.load_study(study_name="tiny", storage=optuna.storages.JournalStorage(JournalFileBackend(str(path))))


# --- a journal cut by a crash ---------------------------------------------------------------

def test_partial_last_record_is_dropped_kept_aside_and_the_study_resumes(cli, write, tmp_path):
    recipe = write("s.yaml", SEARCH)
    tune(cli, recipe, tmp_path)
    journal = tmp_path / "tiny" / "study.journal"
    cut = b'{"op_code":4,"worker_id":"w","study_id":0,"datetime_sta'  # a crash mid-write
    with open(journal, "ab") as f:
        f.write(cut)
    r = cli("tune", recipe, "--studies-dir", tmp_path, "--json", "--trials", "3")
    assert r.code == 0, r.err
    assert json.loads(r.out)["counts"]["complete"] == 3
    side = tmp_path / "tiny" / "study.journal.partial"
    assert side.read_bytes() == cut
    assert "partial" in r.err and "study.journal.partial" in flat(r.err)
    assert journal.read_bytes().endswith(b"\n") and cut not in journal.read_bytes()


def test_a_record_cut_just_before_its_newline_is_kept(cli, write, tmp_path):
    recipe = write("s.yaml", SEARCH)
    tune(cli, recipe, tmp_path)
    journal = tmp_path / "tiny" / "study.journal"
    journal.write_bytes(journal.read_bytes()[:-1])
    s = tune(cli, recipe, tmp_path)  # nothing left to do: the last trial's result was whole
    assert s["counts"]["complete"] == 2 and s["trials"] == 2
    assert not (tmp_path / "tiny" / "study.journal.partial").exists()


def test_a_corrupt_line_inside_the_journal_exits_2_naming_it(cli, write, tmp_path):
    recipe = write("s.yaml", SEARCH)
    tune(cli, recipe, tmp_path)
    journal = tmp_path / "tiny" / "study.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(lines[0] + b"garbage\n" + b"".join(lines[2:]))
    r = cli("tune", recipe, "--studies-dir", tmp_path)
    assert r.code == 2 and "study.journal" in r.err and "line 2" in flat(r.err)
    assert "Traceback" not in r.err


# --- storages, study names, budgets ------------------------------------------------------------

@pytest.mark.parametrize("storage, message", [
    ("postgresql:/x", "postgresql://"),
    ("postgress://u@localhost/db", "did you mean 'postgresql'"),
    ("postgres://u@localhost/db", "did you mean 'postgresql'"),
    ("redis://localhost", "unknown storage scheme 'redis'"),
    ("postgresql://u@localhost:port/db", "not a valid storage URL"),
    ("postgresql+psycopg9://u@localhost/db", "unknown driver 'psycopg9'"),
    ("sqlite://", "in memory"),
])
def test_malformed_or_unknown_storage_exits_2_with_the_accepted_forms(cli, write, tmp_path, monkeypatch,
                                                                     storage, message):
    monkeypatch.chdir(tmp_path)
    r = cli("tune", write("s.yaml", SEARCH), "--studies-dir", tmp_path / "studies", "--storage", storage)
    assert r.code == 2 and message in flat(r.err) and "Traceback" not in r.err
    assert "journal file" in flat(r.err)  # the accepted forms
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]  # no journal named after the typo


@pytest.mark.parametrize("module, package", [("psycopg", "psycopg[binary]"), ("psycopg2", "psycopg2-binary")])
def test_missing_database_driver_exits_2_naming_the_package(cli, write, tmp_path, monkeypatch, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    url = "postgresql://u@127.0.0.1:9/db" if module == "psycopg" else "postgresql+psycopg2://u@127.0.0.1:9/db"
    r = cli("tune", write("s.yaml", SEARCH), "--studies-dir", tmp_path, "--storage", url)
    assert r.code == 2 and f"pip install '{package}'" in flat(r.err)
    assert not (tmp_path / "tiny").exists()


def test_unreachable_database_exits_2_without_the_password(cli, write, tmp_path):
    r = cli("tune", write("s.yaml", SEARCH), "--studies-dir", tmp_path,
            "--storage", "postgresql://u:secret@127.0.0.1:9/db")
    assert r.code == 2 and "cannot open the storage" in flat(r.err) and "secret" not in r.err


def test_readme_postgresql_url_works_and_names_the_metrics(cli, write, tmp_path, fresh_postgres_db):
    import optuna

    plain = fresh_postgres_db.replace("postgresql+psycopg2://", "postgresql://")  # the README's form
    s = tune(cli, write("s.yaml", SEARCH), tmp_path, "--storage", plain, "--study", "pg")
    assert s["counts"]["complete"] == 2
    assert optuna.load_study(study_name="pg", storage=plain).metric_names == ["val.accuracy"]


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "a\\b", ""])
def test_study_name_with_path_parts_exits_2(cli, write, tmp_path, name):
    studies = tmp_path / "studies"
    r = cli("tune", write("s.yaml", SEARCH), "--studies-dir", studies, "--study", name)
    assert r.code == 2 and "--study" in r.err and "Traceback" not in r.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


@pytest.mark.parametrize("flag, value", [("--trials", "-5"), ("--trials", "0"), ("--workers", "0"), ("--workers", "-2")])
def test_trials_and_workers_below_one_exit_2(cli, write, tmp_path, flag, value):
    r = cli("tune", write("s.yaml", SEARCH), "--studies-dir", tmp_path, flag, value)
    assert r.code == 2 and flag in r.err
    assert not (tmp_path / "tiny").exists()


def test_study_in_which_every_trial_failed_exits_1_with_the_first_reason(cli, write, tmp_path):
    text = SEARCH.replace("[4, 8, 16]", "[0]")
    r = cli("tune", write("s.yaml", text), "--studies-dir", tmp_path, "--json")
    assert r.code == 1
    assert "every trial" in flat(r.err) and "output size must be positive" in flat(r.err)
    assert json.loads(r.out)["counts"]["fail"] == 2  # the summary is still printed and written
    assert (tmp_path / "tiny" / "leaderboard.csv").is_file()


def test_a_failure_while_sampling_is_recorded_with_its_reason(cli, write, tmp_path):
    """A resumed study whose choices were edited: Optuna refuses the new distribution."""
    tune(cli, write("s.yaml", SEARCH), tmp_path, "--trials", "1")
    r = cli("tune", write("s.yaml", SEARCH.replace(f"train.optimizer.lr: {LR}", "train.optimizer.lr: {choices: [0.1]}")),
            "--studies-dir", tmp_path, "--json", "--trials", "2")
    failed = [x for x in json.loads(r.out)["leaderboard"] if x["state"] == "fail"]
    assert len(failed) == 1 and failed[0]["note"]


# --- search spaces that can never run -----------------------------------------------------------

@pytest.mark.parametrize("edit, where, message", [
    ((LR, "{low: .nan, high: 0.1}"), "search.space.train.optimizer.lr.low", "finite"),
    ((LR, "{low: 0.001, high: .inf}"), "search.space.train.optimizer.lr.high", "finite"),
    ((LR, "{low: -.inf, high: 0.1}"), "search.space.train.optimizer.lr.low", "finite"),
    ((LR, "{low: 0.001, high: 0.1, step: .nan}"), "search.space.train.optimizer.lr.step", "finite"),
    ((LR, "{low: 0.001, high: 0.1, step: .inf}"), "search.space.train.optimizer.lr.step", "finite"),
    (("[4, 8, 16]", "[4, .nan]"), "search.space.model.0.linear.choices", "finite"),
    (("[4, 8, 16]", "[4, {1: 8}]"), "search.space.model.0.linear.choices", "key that is not a string"),
    (("[4, 8, 16]", "[4, [.inf]]"), "search.space.model.0.linear.choices", "finite"),
    (("objective: {metric: val.accuracy}", "objective: []"), "search.objective", "at least one objective"),
    (("objective: {metric: val.accuracy}", "objective: [{metric: val.accuracy}, {metric: val.accuracy}]"),
     "search.objective", "twice"),
])
def test_space_that_can_never_run_is_a_located_error_at_validate(cli, write, tmp_path, edit, where, message):
    r = cli("validate", write("s.yaml", SEARCH.replace(*edit)))
    assert r.code == 2 and "s.yaml:" in r.err and where in r.err and message in flat(r.err), r.err


def test_choices_of_mappings_and_lists_are_searched_and_reported_as_values(cli, write, tmp_path):
    text = SEARCH.replace(f"train.optimizer.lr: {LR}",
                          "train.optimizer: {choices: [{name: sgd, lr: 0.1}, {name: adam, lr: 0.01}]}")
    assert cli("validate", write("s.yaml", text)).code == 0
    s = tune(cli, tmp_path / "s.yaml", tmp_path)
    assert s["counts"]["complete"] == 2
    assert s["best"][0]["params"]["train.optimizer"] in ({"name": "sgd", "lr": 0.1}, {"name": "adam", "lr": 0.01})
    assert all(isinstance(row["train.optimizer"], dict) for row in s["leaderboard"])
    csv = (tmp_path / "tiny" / "leaderboard.csv").read_text()
    assert '{""name"": ""' in csv  # JSON in the cell, not a Python repr


# --- what Optuna's tools see -------------------------------------------------------------------

def test_journal_study_names_its_metrics(cli, write, tmp_path):
    text = SEARCH.replace("objective: {metric: val.accuracy}", "objective: [{metric: val.accuracy}, {metric: params}]")
    tune(cli, write("s.yaml", text), tmp_path)
    assert load_journal_study(tmp_path / "tiny" / "study.journal").metric_names == ["val.accuracy", "params"]
