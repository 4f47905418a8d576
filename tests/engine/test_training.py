"""Training runs: the run directory, determinism, resume, divergence, early stopping, eval."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TINY


def train(cli, recipe, runs, *extra):
    r = cli("train", recipe, "--runs-dir", runs, "--json", *extra)
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_run_directory_describes_itself(cli, write, tmp_path):
    record = train(cli, write("tiny.yaml", TINY), tmp_path / "runs")
    run = Path(record["run"])
    assert run == tmp_path / "runs" / "tiny" / "0001"
    for name in ("recipe.yaml", "run.json", "metrics.jsonl", "splits.json", "checkpoints/best.safetensors",
                 "checkpoints/last.state.safetensors"):
        assert (run / name).is_file(), name
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2]
    splits = json.loads((run / "splits.json").read_text())
    assert len(splits["train"]) + len(splits["val"]) + len(splits["test"]) == 150
    assert splits["digest"] == record["splits"]["digest"]
    assert len(record["weights"]["sha256"]) == 64 and record["seed"] == 0
    assert record["versions"]["torch"] and record["device"]["type"] == "cpu"
    assert (tmp_path / "runs" / "tiny" / "latest").resolve() == run.resolve()


def test_same_seed_same_weights_bit_for_bit(cli, write, tmp_path):
    recipe = write("tiny.yaml", TINY)
    a = train(cli, recipe, tmp_path / "a")
    b = train(cli, recipe, tmp_path / "b")
    assert a["weights"]["sha256"] == b["weights"]["sha256"]
    c = train(cli, recipe, tmp_path / "c", "--set", "seed=1")
    assert c["weights"]["sha256"] != a["weights"]["sha256"]


def test_resume_after_interrupt_gives_identical_weights(cli, write, tmp_path, monkeypatch):
    recipe = write("tiny.yaml", TINY.replace("epochs: 2", "epochs: 4\n  optimizer: {name: sgd, lr: 0.05, momentum: 0.9}"
                                             "\n  schedule: cosine").replace("- relu", "- relu\n  - dropout: 0.2"))
    full = train(cli, recipe, tmp_path / "full")
    from dlcli.report.console import TrainReporter

    original = TrainReporter.epoch

    def interrupt(self, record, improved):
        original(self, record, improved)
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(TrainReporter, "epoch", interrupt)
    r = cli("train", recipe, "--runs-dir", tmp_path / "cut", "--json")
    assert r.code == 130 and "dlcli train --resume" in r.err
    run = tmp_path / "cut" / "tiny" / "0001"
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(TrainReporter, "epoch", original)
    r = cli("train", "--resume", run, "--json")
    assert r.code == 0, r.err
    resumed = json.loads(r.out)
    assert resumed["epochs_completed"] == 4
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    assert resumed["weights"]["sha256"] == full["weights"]["sha256"]


def test_nan_loss_stops_with_exit_1_and_keeps_best(cli, write, tmp_path, monkeypatch):
    import torch

    from dlcli.tasks.supervised import Supervised

    calls = {"n": 0}
    original = Supervised.train_step

    def poisoned(self, batch, fit):
        calls["n"] += 1
        named = original(self, batch, fit)
        return {"loss": torch.tensor(float("nan"))} if calls["n"] == 12 else named  # epoch 2, step 4 (120 train rows: 8 steps per epoch)

    monkeypatch.setattr(Supervised, "train_step", poisoned)
    r = cli("train", write("tiny.yaml", TINY.replace("epochs: 2", "epochs: 3")), "--runs-dir", tmp_path)
    assert r.code == 1 and "Traceback" not in r.err
    msg = " ".join(r.err.split())
    assert "nan at epoch 2, step 4" in msg and "best checkpoint is kept" in msg
    run = tmp_path / "tiny" / "0001"
    assert (run / "checkpoints" / "best.safetensors").is_file()
    assert json.loads((run / "run.json").read_text())["status"] == "diverged"


def test_early_stopping(cli, write, tmp_path):
    recipe = write("tiny.yaml", TINY.replace("epochs: 2", "epochs: 20\n  optimizer: {name: sgd, lr: 1.0e-9}\n"
                                             "  early_stopping: {monitor: val.loss, patience: 2, min_delta: 0.1}"))
    record = train(cli, recipe, tmp_path)
    assert record["epochs_completed"] == 3 and record["best_epoch"] == 1
    assert "early stopping" in record["stop_reason"]


def test_eval_reports_best_checkpoint(cli, write, tmp_path):
    record = train(cli, write("tiny.yaml", TINY), tmp_path)
    r = cli("eval", record["run"], "--split", "test", "--json")
    assert r.code == 0, r.err
    result = json.loads(r.out)
    assert result["metrics"]["accuracy"] == pytest.approx(record["metrics"]["test"]["accuracy"])
    cm = result["metrics"]["confusion_matrix"]
    assert len(cm) == 3 and sum(map(sum, cm)) == result["samples"] == record["splits"]["test"]
    text = cli("eval", record["run"], "--split", "val")
    assert text.code == 0 and "accuracy" in text.out


@pytest.mark.parametrize("args, message", [
    (("eval", "nowhere"), "run directory not found"),
    (("eval", "."), "not a run directory"),
    (("train",), "give a recipe"),
    (("train", "--resume", "nowhere"), "run directory not found"),
])
def test_bad_run_arguments(cli, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli(*args)
    assert r.code == 2 and message in r.err and "Traceback" not in r.err


def test_eval_of_run_without_checkpoint(cli, write, tmp_path):
    record = train(cli, write("tiny.yaml", TINY), tmp_path)
    (Path(record["run"]) / "checkpoints" / "best.safetensors").unlink()
    r = cli("eval", record["run"])
    assert r.code == 2 and "no best checkpoint" in r.err


def test_regression_metrics_in_target_units(cli, write, tmp_path):
    recipe = write("reg.yaml", """
        data: {source: diabetes}
        model: [{linear: 16}, relu, {linear: auto}]
        train: {epochs: 3, batch_size: 32}
    """)
    record = train(cli, recipe, tmp_path)
    assert record["task"] == "regression"
    assert 20 < record["metrics"]["test"]["mae"] < 200  # disease progression units, not standardised ones


def test_pipeline_takes_raw_inputs(cli, write, tmp_path):
    """The saved model holds the normalisation: raw rows in, the same outputs as training saw."""
    import torch

    from dlcli.workflows.runs import load_run

    record = train(cli, write("tiny.yaml", TINY), tmp_path)
    _, s = load_run(Path(record["run"]))
    raw = torch.as_tensor(s.data.dataset.x[s.data.indices["test"]])
    s.model.eval()
    with torch.no_grad():
        assert torch.allclose(s.model(raw), s.nets["net"](s.data.x["test"]), atol=1e-5)


def test_sequence_models_train_from_npz(cli, write, tmp_path):
    """(T, F) sequences from an npz: a bidirectional LSTM and a transformer encoder both train."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 12, 3)).astype(np.float32)
    np.savez(tmp_path / "seq.npz", x=x, y=(x[:, :, 0].sum(1) > 0).astype(np.int64))
    for model in ("[{lstm: {hidden: 8, bidirectional: true, return: all}}, {select: 1}, {linear: auto}]",
                  "[{linear: 16}, positional, {transformer_encoder: {depth: 1, heads: 2}}, flatten, {linear: auto}]"):
        recipe = write("seq.yaml", f"""
            data: {{source: {{type: npz, path: seq.npz}}, normalize: none}}
            model: {model}
            train: {{epochs: 2, batch_size: 32}}
        """)
        r = cli("train", recipe, "--runs-dir", tmp_path / "runs", "--json")
        assert r.code == 0, r.err
        assert json.loads(r.out)["data"]["input_shape"] == [12, 3]


def test_resume_ignores_a_metrics_line_cut_short(cli, write, tmp_path):
    record = train(cli, write("tiny.yaml", TINY), tmp_path)
    run = Path(record["run"])
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "train.lo')  # a crash in the middle of a line
    r = cli("train", "--resume", run, "--json")
    assert r.code == 0, r.err
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_deterministic_mode_and_fixed_threads_are_recorded(cli, write, tmp_path):
    import torch

    threads = torch.get_num_threads()
    try:
        recipe = write("d.yaml", TINY.replace("epochs: 2", "epochs: 2\n  deterministic: true\n  threads: 1"))
        a = train(cli, recipe, tmp_path / "a")
        assert a["determinism"] == {"deterministic": True, "threads": 1}
        assert torch.are_deterministic_algorithms_enabled()
        b = train(cli, recipe, tmp_path / "b")
        assert a["weights"]["sha256"] == b["weights"]["sha256"]
        c = train(cli, write("t.yaml", TINY), tmp_path / "c")
        assert c["determinism"]["deterministic"] is False and not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(threads)


def test_an_op_without_a_deterministic_implementation_is_named(cli, write, tmp_path, monkeypatch):
    from dlcli.tasks.supervised import Supervised

    def refuse(self, *args):
        raise RuntimeError("index_add_cuda_ does not have a deterministic implementation, but you set "
                           "'torch.use_deterministic_algorithms(True)'.")

    monkeypatch.setattr(Supervised, "train_step", refuse)
    r = cli("train", write("d.yaml", TINY.replace("epochs: 2", "epochs: 2\n  deterministic: true")), "--runs-dir", tmp_path)
    try:
        msg = " ".join(r.err.split())
        assert r.code == 1 and "index_add_cuda_ has no deterministic implementation" in msg and "Traceback" not in r.err
    finally:
        import torch

        torch.use_deterministic_algorithms(False)
