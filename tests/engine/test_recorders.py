"""The recorders of engine/recorders.py: grad_flow, probe and regions, and what they leave in a run."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import train_once

MLP = """
name: flow
seed: 0
data: {source: iris}
model: [{linear: 16}, relu, {linear: 16}, tanh, {linear: auto}]
train:
  epochs: 2
  batch_size: 16
  optimizer: {name: sgd, lr: 0.05, momentum: 0.0}
  callbacks: [{grad_flow: {every: 2}}, {probe: {samples: 10}}]
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One recorded run, shared (read-only) by the tests below."""
    return train_once(tmp_path_factory.mktemp("flow"), {"flow": MLP})["flow"]


@pytest.fixture
def flow_run(trained, tmp_path):
    """A copy of the recorded run that a test may change."""
    return Path(shutil.copytree(trained, tmp_path / "flow" / "0001", symlinks=True))


def steps_per_epoch(run) -> int:
    splits = json.loads((run / "splits.json").read_text())
    return -(-len(splits.get("indices", splits)["train"]) // 16)


def test_grad_flow_records_every_nth_step_of_each_epoch(flow_run):
    docs = [json.loads((flow_run / "records" / "grad_flow" / f"epoch-{e:04d}.json").read_text()) for e in (1, 2)]
    role = docs[0]["roles"]["model"]
    assert role["layers"] == ["net.0", "net.2", "net.4"] and role["kinds"] == ["Linear"] * 3
    steps = role["steps"] + docs[1]["roles"]["model"]["steps"]
    per_epoch = steps_per_epoch(flow_run)
    assert steps == list(range(0, 2 * per_epoch, 2))  # counted across epochs, every 2nd
    assert all(len(row) == 3 and all(v > 0 for v in row) for row in role["grad_norm"])
    assert set(role["activations"]) == {"net.1", "net.3"}
    assert role["activations"]["net.1"]["kind"] == "relu" and role["activations"]["net.3"]["kind"] == "tanh"
    assert all(0.0 <= v <= 1.0 for v in role["activations"]["net.1"]["share"])


def test_update_ratio_is_the_plain_sgd_step(flow_run):
    """With SGD, no momentum and no decay, the update is lr x gradient: ratio x |w| = lr x |g|."""
    role = json.loads((flow_run / "records" / "grad_flow" / "epoch-0001.json").read_text())["roles"]["model"]
    for g, w, u in zip(role["grad_norm"], role["weight_norm"], role["update_ratio"]):
        assert np.allclose(np.array(u) * np.array(w), 0.05 * np.array(g), rtol=1e-4)


def test_probe_keeps_each_epoch_and_the_start(flow_run):
    meta = json.loads((flow_run / "records" / "probe" / "probe.json").read_text())
    assert meta["split"] == "test" and meta["samples"] == 10 and len(meta["indices"]) == 10
    assert meta["indices"] == sorted(meta["indices"]) and len(meta["digest"]) == 64
    probs = [np.load(flow_run / "records" / "probe" / f"epoch-{e:04d}.npy") for e in (0, 1, 2)]
    assert all(p.dtype == np.float16 and p.shape == (10, 3) for p in probs)
    assert np.allclose([p.astype(np.float64).sum(1) for p in probs], 1.0, atol=3e-3)
    assert not np.array_equal(probs[0], probs[2])  # training moved the predictions


def test_initial_weights_are_kept(flow_run):
    from safetensors.numpy import load_file

    init, best = (load_file(flow_run / "checkpoints" / f"{t}.safetensors") for t in ("init", "best"))
    assert set(init) == set(best) and not np.array_equal(init["net.0.weight"], best["net.0.weight"])


def test_resume_rewrites_only_the_epochs_it_trains(cli, flow_run):
    r = cli("train", "--resume", flow_run, "--set", "train.epochs=3", "--json")
    assert r.code == 0, r.err
    third = json.loads((flow_run / "records" / "grad_flow" / "epoch-0003.json").read_text())["roles"]["model"]
    assert third["steps"][0] == 2 * steps_per_epoch(flow_run)  # steps go on counting from the checkpoint
    assert sorted(p.name for p in (flow_run / "records" / "probe").glob("*.npy")) == [
        f"epoch-{e:04d}.npy" for e in range(4)]


def test_inspect_gradients_reports_and_draws(cli, flow_run, monkeypatch):
    monkeypatch.setenv("DLCLI_PLOTS", "1")
    r = cli("inspect", flow_run, "gradients", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)["roles"]["model"]
    assert [row["layer"] for row in doc["layers"]] == ["net.0", "net.2", "net.4"]
    assert doc["findings"] and all(row["verdict"] == "" for row in doc["layers"])
    assert (flow_run / "plots" / "gradients.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = (flow_run / "plots" / "gradients.csv").read_text().splitlines()
    assert lines[0] == "role,epoch,step,layer,grad_norm,weight_norm,update_ratio" and len(lines) == 1 + 3 * steps_per_epoch(flow_run)
    r = cli("inspect", flow_run, "gradients")
    assert r.code == 0 and "gradient flow" in r.out and "gradients.png" in r.out


def test_a_run_without_the_records_is_told_which_callback_to_add(cli, write, tmp_path):
    plain = MLP.replace("  callbacks: [{grad_flow: {every: 2}}, {probe: {samples: 10}}]\n", "")
    assert plain != MLP
    r = cli("train", write("plain.yaml", plain.replace("name: flow", "name: plain")), "--runs-dir", tmp_path / "runs")
    assert r.code == 0, r.err
    r = cli("inspect", tmp_path / "runs" / "plain" / "0001", "gradients")
    assert r.code == 2 and "no grad_flow records" in r.err and "train.callbacks" in r.err
    assert "Traceback" not in r.err


def test_probe_is_refused_by_a_task_without_class_probabilities(cli, write):
    text = """
    name: reg
    data: {source: diabetes}
    model: [{linear: 8}, relu, {linear: auto}]
    train: {epochs: 1, callbacks: [probe]}
    """
    r = cli("validate", write("reg.yaml", text))
    assert r.code == 2 and "train.callbacks" in r.err and "class probabilities" in r.err, r.err


def test_verdicts_name_vanishing_and_exploding_layers():
    from dlcli.analysis.gradients import findings, layer_summary

    g = np.array([[1e-6, 1e-1, 1.0], [1e-6, 1e-1, 1.0]])
    flow = {"layers": ["a", "b", "c"], "kinds": ["Linear"] * 3, "grad_norm": g, "weight_norm": np.ones_like(g),
            "update_ratio": np.full_like(g, 1e-3), "activations": {}}
    rows = layer_summary(flow)
    assert [r["verdict"] for r in rows] == ["vanishing", "", ""]
    assert findings(rows, []) == ["vanishing gradients in 1 of 3 layers: a"]
    flow["grad_norm"] = np.array([[1.0, 1.0, 1.0]] * 4 + [[1.0, 500.0, 1.0]] * 4)
    assert [r["verdict"] for r in layer_summary(flow)] == ["", "exploding", ""]  # grew 500x
    flow["grad_norm"] = np.array([[1.0, np.inf, 1.0]] * 2)
    assert layer_summary(flow)[1]["verdict"] == "exploding"


def test_the_regions_callback_refuses_a_smooth_network_before_training(cli, write, tmp_path):
    text = MLP.replace("  callbacks: [{grad_flow: {every: 2}}, {probe: {samples: 10}}]", "  callbacks: [regions]")
    r = cli("train", write("smooth.yaml", text), "--runs-dir", tmp_path / "runs")
    assert r.code == 2 and "train.callbacks regions" in r.err and "Tanh" in r.err, r.err
    assert not (tmp_path / "runs" / "flow" / "0001" / "metrics.jsonl").exists()
