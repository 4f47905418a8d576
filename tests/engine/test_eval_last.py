"""`train.eval: last`: the final metrics, `dlcli eval` and the export all use the last epoch's weights."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY

# min_delta 100: only epoch 1 counts as an improvement, so the best epoch (1) is not the last (3)
RECIPE = TINY.replace("epochs: 2", "epochs: 3\n  early_stopping: {monitor: val.loss, patience: 10, min_delta: 100}")


def train(cli, write, tmp_path, text: str, name: str) -> dict:
    r = cli("train", write(f"{name}.yaml", text), "--runs-dir", tmp_path / name, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


@pytest.fixture
def last_run(cli, write, tmp_path) -> dict:
    return train(cli, write, tmp_path, RECIPE + "  eval: last\n", "last")


def outputs(run: Path, tag: str, x: np.ndarray) -> np.ndarray:
    import torch

    from dlcli.workflows.runs import load_run

    _, s = load_run(run, tag)
    s.model.eval()
    with torch.no_grad():
        return s.model(torch.as_tensor(x)).numpy()


def test_last_weights_are_evaluated_and_recorded(cli, last_run):
    from safetensors.torch import load_file

    from dlcli.engine import statefile

    run = Path(last_run["run"])
    assert last_run["best_epoch"] == 1 and last_run["epochs_completed"] == 3
    weights = last_run["weights"]
    assert weights["file"] == "checkpoints/last.safetensors" and weights["eval"] == "last" and weights["epoch"] == 3
    from dlcli.engine.checkpoint import file_sha256

    assert weights["sha256"] == file_sha256(run / weights["file"]) != file_sha256(run / "checkpoints/best.safetensors")
    last, state = load_file(str(run / weights["file"])), statefile.unpack(run / "checkpoints/last.state.safetensors")
    assert state["epoch"] == 3 and all(np.array_equal(last[k].numpy(), v.numpy()) for k, v in state["model"].items())
    r = cli("eval", run, "--split", "test", "--json")
    assert r.code == 0, r.err
    result = json.loads(r.out)
    assert result["weights"] == "last"
    assert result["metrics"]["loss"] == pytest.approx(last_run["metrics"]["test"]["loss"])


def test_the_export_holds_the_evaluated_weights(cli, last_run):
    import onnxruntime as ort

    from dlcli.workflows.runs import load_run

    run = Path(last_run["run"])
    r = cli("export", run, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["weights"] == "checkpoints/last.safetensors"
    _, s = load_run(run)
    x = np.ascontiguousarray(s.data.dataset.x[s.data.indices["test"]], dtype=np.float32)
    session = ort.InferenceSession(str(run / "model.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert np.allclose(got, outputs(run, "last", x), atol=1e-4)
    assert not np.allclose(got, outputs(run, "best", x), atol=1e-4)


def test_best_stays_the_default(cli, write, tmp_path):
    record = train(cli, write, tmp_path, RECIPE, "best")
    assert record["weights"]["file"] == "checkpoints/best.safetensors"
    assert record["weights"]["eval"] == "best" and record["weights"]["epoch"] == record["best_epoch"] == 1
    assert not (Path(record["run"]) / "checkpoints" / "last.safetensors").exists()


def test_an_unfinished_last_run_says_how_to_finish_it(cli, last_run):
    run = Path(last_run["run"])
    (run / "checkpoints" / "last.safetensors").unlink()
    r = cli("eval", run)
    msg = " ".join(r.err.split())
    assert r.code == 2 and "last.safetensors is missing" in msg and f"dlcli train --resume {run}" in msg, r.err
    r = cli("train", "--resume", run, "--json")  # all epochs done: it only evaluates and saves again
    assert r.code == 0, r.err
    assert json.loads(r.out)["weights"]["sha256"] == last_run["weights"]["sha256"]


def test_a_resume_may_switch_to_the_last_weights(cli, write, tmp_path):
    record = train(cli, write, tmp_path, RECIPE, "switch")
    r = cli("train", "--resume", record["run"], "--set", "train.eval=last", "--json")
    assert r.code == 0, r.err
    again = json.loads(r.out)
    assert again["weights"]["eval"] == "last" and again["weights"]["epoch"] == 3
    assert again["metrics"]["test"]["loss"] != record["metrics"]["test"]["loss"]
