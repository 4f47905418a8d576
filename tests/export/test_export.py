"""dlcli export: the parity gate, metadata, fallbacks, opsets and bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny iris run, trained once for the module."""
    from dlcli.workflows.train import run_training
    from dlcli.report.console import TrainReporter

    root = tmp_path_factory.mktemp("export")
    recipe = root / "tiny.yaml"
    recipe.write_text(TINY.lstrip())
    return Path(run_training(recipe, None, [], root / "runs", TrainReporter(quiet=True))["run"])


def test_export_writes_one_checked_file_and_records_parity(cli, trained):
    import onnx

    r = cli("export", trained, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["exporter"] == "dynamo" and report["opset"] == 18 and report["parity"]["passed"]
    assert report["parity"]["batches"] == [1, 15] and report["parity"]["max_abs"] <= 1e-5
    model = onnx.load(trained / "model.onnx")
    assert not list(trained.glob("*.data"))  # self-contained: no external-data sidecar
    onnx.checker.check_model(model)
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["dlcli.classes"]) == ["setosa", "versicolor", "virginica"]
    assert props["dlcli.recipe"] == "tiny" and props["dlcli.task"] == "classification" and props["dlcli.version"]
    assert json.loads(props["dlcli.input"])["feature_names"][0] == "sepal length (cm)"
    assert len(props["dlcli.recipe_sha256"]) == 64
    record = json.loads((trained / "run.json").read_text())
    assert record["export"]["parity"]["max_rel"] == report["parity"]["max_rel"]


def test_batch_axis_is_dynamic(cli, trained):
    import onnxruntime as ort

    assert cli("export", trained).code == 0
    session = ort.InferenceSession(str(trained / "model.onnx"))
    name = session.get_inputs()[0].name
    for n in (1, 7, 100):
        assert session.run(None, {name: np.zeros((n, 4), np.float32)})[0].shape == (n, 3)


def test_text_report(cli, trained):
    r = cli("export", trained)
    text = " ".join(r.out.split())
    assert r.code == 0 and "wrote" in text and "parity with PyTorch: passed" in text


def test_mismatch_exits_1_naming_output_element_and_values(cli, trained, monkeypatch):
    from dlcli.export import parity

    original = parity.run_both

    def skewed(model, session, x):
        onnx_out, torch_out = original(model, session, x)
        onnx_out = onnx_out.copy()
        onnx_out[0, 2] += 0.5
        return onnx_out, torch_out

    monkeypatch.setattr(parity, "run_both", skewed)
    r = cli("export", trained)
    err = " ".join(r.err.split())
    assert r.code == 1 and "Traceback" not in r.err
    assert "disagrees with PyTorch on output" in err and "element (0, 2)" in err and "onnx" in err and "torch" in err
    assert json.loads((trained / "run.json").read_text())["export"]["parity"]["passed"] is False


def test_fallback_to_torchscript_says_so(cli, trained, monkeypatch):
    from dlcli.export import onnx_export

    def broken(*args, **kwargs):
        raise RuntimeError("dynamo cannot trace this")

    monkeypatch.setattr(onnx_export, "export_dynamo", broken)
    r = cli("export", trained, "--out", trained / "ts.onnx")
    text = " ".join(r.out.split())
    assert r.code == 0, r.err
    assert "dynamo exporter failed (RuntimeError: dynamo cannot trace this)" in text and "TorchScript" in text
    assert (trained / "ts.onnx").is_file()


def test_other_opset(cli, trained, tmp_path):
    r = cli("export", trained, "--opset", "17", "--out", tmp_path / "m17.onnx", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["opset"] == 17


@pytest.mark.parametrize("opset", ["3", "99"])
def test_opset_the_exporter_cannot_produce(cli, trained, opset):
    r = cli("export", trained, "--opset", opset)
    assert r.code == 2 and f"opset {opset} cannot be produced" in r.err and "Traceback" not in r.err


def test_missing_run_and_missing_checkpoint(cli, tmp_path, write):
    assert cli("export", tmp_path / "nowhere").code == 2
    from dlcli.workflows.train import run_training
    from dlcli.report.console import TrainReporter

    run = Path(run_training(write("t.yaml", TINY), None, [], tmp_path / "runs", TrainReporter(quiet=True))["run"])
    (run / "checkpoints" / "best.safetensors").unlink()
    r = cli("export", run)
    assert r.code == 2 and "no best checkpoint" in r.err


def test_train_exports_when_the_recipe_asks(cli, write, tmp_path):
    recipe = write("t.yaml", TINY + "export:\n  onnx: {opset: 18}\n")
    r = cli("train", recipe, "--runs-dir", tmp_path, "--json")
    assert r.code == 0, r.err
    record = json.loads(r.out)
    assert record["export"]["parity"]["passed"] and Path(record["export"]["file"]).is_file()


def test_digits_export_takes_raw_flat_pixels(cli, write, tmp_path):
    """The reshape digits need (64 pixels -> 1x8x8) and the normalisation are inside the graph."""
    import onnxruntime as ort
    from sklearn.datasets import load_digits

    recipe = write("d.yaml", "data: {source: digits}\nmodel: [{conv2d: 4}, relu, flatten, {linear: auto}]\n"
                             "train: {epochs: 3}\nexport: {onnx: {}}\n")
    r = cli("train", recipe, "--runs-dir", tmp_path, "--json")
    assert r.code == 0, r.err
    session = ort.InferenceSession(json.loads(r.out)["export"]["file"])
    assert session.get_inputs()[0].shape[1:] == [64]
    digits = load_digits()
    logits = session.run(None, {session.get_inputs()[0].name: digits.data[:300].astype(np.float32)})[0]
    assert (logits.argmax(1) == digits.target[:300]).mean() > 0.8


def test_no_check_skips_the_gate(cli, trained, tmp_path):
    r = cli("export", trained, "--no-check", "--out", tmp_path / "m.onnx", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert "parity" not in report and (tmp_path / "m.onnx").is_file()
