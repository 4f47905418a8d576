"""dlcli tune: studies, resume, reproducibility, failures, pruning, workers and bad input."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.conftest import TINY

SEARCH = TINY.replace("epochs: 2", "epochs: 3") + """
search:
  trials: 4
  objective: {metric: val.accuracy}
  sampler: random
  pruner: none
  space:
    train.optimizer.lr: {low: 1.0e-3, high: 1.0e-1, log: true}
    model.0.linear: {choices: [4, 8, 16]}
"""


def tune(cli, recipe, studies, *extra):
    r = cli("tune", recipe, "--studies-dir", studies, "--json", *extra)
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_study_folder_leaderboard_and_best_yaml(cli, write, tmp_path):
    s = tune(cli, write("s.yaml", SEARCH), tmp_path / "studies")
    assert s["counts"]["complete"] == 4 and s["trials"] == 4 and s["directions"] == ["maximize"]
    study = tmp_path / "studies" / "tiny"
    lines = (study / "leaderboard.csv").read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("trial,state,val.accuracy")
    for n in range(4):
        assert json.loads((study / "trials" / f"{n:04d}" / "run.json").read_text())["status"] == "completed"
    best = s["best"][0]
    assert best["values"][0] == max(float(x.split(",")[2]) for x in lines[1:])
    r = cli("train", study / "best.yaml", "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.err
    assert "search" not in (study / "best.yaml").read_text()
    assert json.loads(r.out)["metrics"]["val"]["accuracy"] == pytest.approx(best["values"][0])


def test_same_seed_same_trials_and_best(cli, write, tmp_path):
    recipe = write("s.yaml", SEARCH.replace("sampler: random", "sampler: tpe"))
    a = tune(cli, recipe, tmp_path / "a")
    b = tune(cli, recipe, tmp_path / "b")
    sampled = [(tmp_path / d / "tiny" / "leaderboard.csv").read_text().splitlines() for d in ("a", "b")]
    strip = lambda lines: sorted(",".join(x.split(",")[:3] + x.split(",")[5:-2]) for x in lines)  # noqa: E731  no timings, paths
    assert strip(sampled[0]) == strip(sampled[1])
    assert a["best"][0]["params"] == b["best"][0]["params"] and a["best"][0]["values"] == b["best"][0]["values"]


def test_rerun_resumes_without_redoing_finished_trials(cli, write, tmp_path):
    recipe = write("s.yaml", SEARCH)
    tune(cli, recipe, tmp_path, "--trials", "2")
    first = (tmp_path / "tiny" / "trials" / "0000" / "run.json").stat().st_mtime_ns
    s = tune(cli, recipe, tmp_path, "--trials", "5")
    assert s["trials"] == 5 and s["counts"]["complete"] == 5
    assert (tmp_path / "tiny" / "trials" / "0000" / "run.json").stat().st_mtime_ns == first
    assert tune(cli, recipe, tmp_path, "--trials", "5")["trials"] == 5  # nothing left to do


def test_interrupted_trial_is_run_again(cli, write, tmp_path):
    """A trial left RUNNING by a killed worker is failed as interrupted and re-run with its values."""
    import optuna

    from dlcli.search import study as st
    from dlcli.workflows.tune import make_plan

    recipe = write("s.yaml", SEARCH)
    plan = make_plan(recipe, [], 3, 1, None, None, tmp_path)
    study = st.load(plan.name, plan.storage, plan.setup.search, 0, 3, create=True)
    ghost = study.ask({"train.optimizer.lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True),
                       "model.0.linear": optuna.distributions.CategoricalDistribution([4, 8, 16])})
    ghost.set_user_attr("worker", f"{socket.gethostname()}:999999")  # a pid that does not exist
    s = tune(cli, recipe, tmp_path, "--trials", "3")
    states = {r["trial"]: r["state"] for r in s["leaderboard"]}
    assert states[0] == "fail" and "interrupted" in s["leaderboard"][-1]["note"]
    assert s["counts"]["complete"] == 3
    retry = next(r for r in s["leaderboard"] if r["trial"] == 1)
    assert retry["train.optimizer.lr"] == ghost.params["train.optimizer.lr"]


def test_the_plan_carries_the_trials_training_to_the_workers_by_name(write, tmp_path):
    """Workers are spawned processes: the plan is pickled, the training function goes by its name."""
    import pickle

    from dlcli.search import trial
    from dlcli.workflows.tune import make_plan, train_trial

    text = SEARCH.replace("  batch_size: 16\n", "  batch_size: 16\n  optimizer: adam\n")
    plan = make_plan(write("s.yaml", text), [], 3, 2, None, None, tmp_path)
    assert plan.train is train_trial
    assert b"dlcli.workflows.tune" in pickle.dumps(plan) and pickle.loads(pickle.dumps(plan)).train is train_trial
    assert not hasattr(trial, "train_trial")  # search/ knows studies, not training


def test_failing_trials_are_recorded_and_the_search_goes_on(cli, write, tmp_path):
    text = SEARCH.replace("sampler: random", "sampler: grid").replace(
        "    train.optimizer.lr: {low: 1.0e-3, high: 1.0e-1, log: true}\n", "").replace("[4, 8, 16]", "[4, 0]")
    s = tune(cli, write("s.yaml", text), tmp_path, "--trials", "2")
    assert s["counts"] == {"complete": 1, "pruned": 0, "fail": 1, "running": 0}
    failed = next(r for r in s["leaderboard"] if r["state"] == "fail")
    assert failed["model.0.linear"] == 0 and "output size must be positive" in failed["note"]


def test_median_pruner_stops_bad_trials_early(cli, write, tmp_path):
    text = SEARCH.replace("pruner: none", "pruner: median").replace("epochs: 3", "epochs: 4").replace(
        "{low: 1.0e-3, high: 1.0e-1, log: true}", "{low: 1.0e-6, high: 1.0e-1, log: true}")
    s = tune(cli, write("s.yaml", text), tmp_path, "--trials", "10")
    pruned = [r for r in s["leaderboard"] if r["state"] == "pruned"]
    assert pruned and all(r["epochs"] < 4 for r in pruned)
    assert s["epochs_trained"] < 40


def test_multi_objective_reports_the_pareto_front(cli, write, tmp_path):
    text = SEARCH.replace("objective: {metric: val.accuracy}",
                          "objective: [{metric: val.accuracy}, {metric: params}]").replace("  pruner: none\n", "")
    s = tune(cli, write("s.yaml", text), tmp_path)
    assert s["directions"] == ["maximize", "minimize"] and s["best"]
    assert all(len(b["values"]) == 2 for b in s["best"]) and s["importances"] is None


def test_grid_over_steps_and_choices(cli, write, tmp_path):
    text = SEARCH.replace("sampler: random", "sampler: grid").replace(
        "{low: 1.0e-3, high: 1.0e-1, log: true}", "{low: 0.01, high: 0.03, step: 0.01}").replace("[4, 8, 16]", "[4, 8]")
    s = tune(cli, write("s.yaml", text), tmp_path, "--trials", "6")
    seen = {(round(r["train.optimizer.lr"], 4), r["model.0.linear"]) for r in s["leaderboard"]}
    assert seen == {(lr, w) for lr in (0.01, 0.02, 0.03) for w in (4, 8)}


def test_two_workers_share_a_journal(cli, write, tmp_path):
    s = tune(cli, write("s.yaml", SEARCH), tmp_path, "--trials", "6", "--workers", "2")
    numbers = sorted(r["trial"] for r in s["leaderboard"])
    assert numbers == list(range(6)) and s["counts"]["complete"] == 6
    runs = sorted(p.name for p in (tmp_path / "tiny" / "trials").iterdir())
    assert runs == [f"{n:04d}" for n in range(6)]
    assert set(s["importances"]) == {"train.optimizer.lr", "model.0.linear"}  # >= 5 complete trials


@pytest.mark.parametrize("edit, message", [
    (("{low: 1.0e-3, high: 1.0e-1, log: true}", "{low: 0.1, high: 0.1}"), "empty range"),
    (("{low: 1.0e-3, high: 1.0e-1, log: true}", "{low: 0, high: 0.1, log: true}"), "log distribution needs low > 0"),
    (("{low: 1.0e-3, high: 1.0e-1, log: true}", "{lo: 0.001, high: 0.1}"), "unknown key 'lo'"),
    (("sampler: random", "sampler: tpee"), "did you mean 'tpe'"),
    (("model.0.linear:", "model.9.linear:"), "'model.9.linear' is not a path"),
    (("sampler: random", "sampler: grid"), "grid sampler needs"),
])
def test_bad_search_space_exits_2_before_any_trial(cli, write, tmp_path, edit, message):
    r = cli("tune", write("s.yaml", SEARCH.replace(*edit)), "--studies-dir", tmp_path)
    assert r.code == 2 and message in " ".join(r.err.split()) and "s.yaml:" in r.err
    assert not (tmp_path / "tiny").exists()


def test_recipe_without_search(cli, write, tmp_path):
    r = cli("tune", write("t.yaml", TINY), "--studies-dir", tmp_path)
    assert r.code == 2 and "no search space" in r.err


SAMPLERS = ["tpe", "random", "cmaes", "qmc", "nsga2"]  # grid has its own test


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_runs(cli, write, tmp_path, sampler):
    from dlcli.search.samplers import samplers

    assert set(SAMPLERS) | {"grid"} == set(samplers.names())
    text = SEARCH.replace("sampler: random", f"sampler: {sampler}").replace("epochs: 3", "epochs: 1")
    s = tune(cli, write("s.yaml", text), tmp_path, "--trials", "3")
    assert s["counts"]["complete"] == 3


@pytest.mark.parametrize("pruner", ["none", "median", "percentile", "successive_halving", "hyperband"])
def test_every_pruner_runs(cli, write, tmp_path, pruner):
    text = SEARCH.replace("pruner: none", f"pruner: {pruner}").replace("epochs: 3", "epochs: 2")
    s = tune(cli, write("s.yaml", text), tmp_path, "--trials", "3")
    assert s["counts"]["complete"] + s["counts"]["pruned"] == 3


def test_two_workers_share_a_postgresql_study(cli, write, tmp_path, fresh_postgres_db):
    """Two worker processes against a real PostgreSQL server: every trial once, none lost."""
    recipe = write("s.yaml", SEARCH)
    s = tune(cli, recipe, tmp_path, "--trials", "6", "--workers", "2", "--storage", fresh_postgres_db, "--study", "pg")
    assert sorted(r["trial"] for r in s["leaderboard"]) == list(range(6)) and s["counts"]["complete"] == 6
    assert s["storage"] == fresh_postgres_db and not (tmp_path / "pg" / "study.journal").exists()
    again = tune(cli, recipe, tmp_path, "--trials", "8", "--storage", fresh_postgres_db, "--study", "pg")
    assert again["counts"]["complete"] == 8  # a second command (another machine) continues the same study


def test_shipped_search_interrupted_and_resumed_with_two_workers(tmp_path):
    """The done-when of the search issue, as a user does it: start, Ctrl-C, run again, train best.yaml."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    cmd = [sys.executable, "-m", "dlcli", "tune", str(ROOT / "recipes" / "digits-cnn-tune.yaml"), "--workers", "2",
           "--trials", "8", "--studies-dir", str(tmp_path), "--set", "train.epochs=6", "--set", "search.pruner=none"]
    # Ctrl-C as a terminal sends it: a runner started in the background (`cmd &`, no job control)
    # hands its children SIGINT ignored, and the search would run to its end
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    trials = tmp_path / "digits-cnn-tune" / "trials"
    deadline = time.time() + 120
    while time.time() < deadline and not any(json.loads(p.read_text()).get("status") == "completed"
                                             for p in trials.glob("*/run.json") if p.stat().st_size):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, workers too
    proc.communicate(timeout=60)
    done_before = {p.parent.name: p.stat().st_mtime_ns for p in trials.glob("*/run.json")
                   if json.loads(p.read_text()).get("status") == "completed"}
    assert 1 <= len(done_before) < 8
    r = subprocess.run(cmd + ["--json"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    complete = [x for x in s["leaderboard"] if x["state"] == "complete"]
    assert len(complete) == 8
    for name, mtime in done_before.items():  # finished trials were not redone
        assert (trials / name / "run.json").stat().st_mtime_ns == mtime
    best = subprocess.run([sys.executable, "-m", "dlcli", "train", s["best_yaml"], "--set", "train.epochs=1",
                           "--runs-dir", str(tmp_path / "runs"), "--json"], capture_output=True, text=True, timeout=300)
    assert best.returncode == 0, best.stderr


def test_depth_through_repeat_and_a_timeout(cli, write, tmp_path):
    text = """
    vars: {depth: 1}
    data: {source: iris}
    model:
      - repeat: {times: "${vars.depth}", layers: [{linear: 8}, relu]}
      - linear: auto
    train: {epochs: 1, batch_size: 16}
    search:
      trials: 200
      timeout: 3
      sampler: random
      objective: {metric: val.loss}
      space:
        vars.depth: {low: 1, high: 3}
        train.optimizer.lr: {low: 0.001, high: 0.1, log: true}
    """
    s = tune(cli, write("d.yaml", text), tmp_path)
    assert 1 <= s["trials"] < 200  # the timeout ended the search
    depths = {r["vars.depth"] for r in s["leaderboard"]}
    assert depths <= {1, 2, 3}
    for r in s["leaderboard"]:
        recipe = (Path(r["run"]) / "recipe.yaml").read_text()
        assert f"times: {r['vars.depth']}" in recipe
    if s["counts"]["complete"] >= 5:
        assert set(s["importances"]) == {"vars.depth", "train.optimizer.lr"}
