"""`dlcli sample`: the same numbers from ONNX Runtime and PyTorch for the same seed; bad input is exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dlcli.tasks import tasks


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A trained cgan run (exported) and a trained classifier run, shared by the module's tests."""
    import sys

    from dlcli.cli.app import main

    root = tmp_path_factory.mktemp("sample")
    made = {}
    for name, extra in (("cgan", "export:\n  onnx: {opset: 18}\n"), ("classification", "")):
        path = root / f"{name}.yaml"
        path.write_text(f"name: {name}\nseed: 0\n" + tasks.get(name).example.lstrip() + extra)
        argv, sys.argv = sys.argv, ["dlcli", "train", str(path), "--runs-dir", str(root / "runs"), "--json"]
        try:
            main()
        except SystemExit as e:
            assert not e.code
        finally:
            sys.argv = argv
        made[name] = root / "runs" / name / "0001"
    return made


def test_onnx_runtime_and_pytorch_draw_the_same_samples(cli, runs, tmp_path):
    outs = {}
    for engine in ("onnxruntime", "pytorch"):
        r = cli("sample", runs["cgan"], "--n", "12", "--seed", "7", "--engine", engine, "--out", tmp_path / f"{engine}.npz",
                "--json")
        assert r.code == 0, r.err
        assert json.loads(r.out)["engine"] == engine
        outs[engine] = np.load(tmp_path / f"{engine}.npz")
    assert outs["onnxruntime"]["x"].shape == (12, 64)
    np.testing.assert_allclose(outs["onnxruntime"]["x"], outs["pytorch"]["x"], atol=1e-5)
    assert outs["pytorch"]["label"].tolist() == [i % 10 for i in range(12)]
    again = cli("sample", runs["cgan"], "--n", "12", "--seed", "8", "--engine", "pytorch", "--out", tmp_path / "8.npz")
    assert again.code == 0 and not np.allclose(np.load(tmp_path / "8.npz")["x"], outs["pytorch"]["x"])


def test_a_label_picks_the_class_and_images_become_a_grid(cli, runs, tmp_path):
    r = cli("sample", runs["cgan"], "--n", "6", "--label", "3", "--out", tmp_path / "three.png", "--json")
    assert r.code == 0, r.err
    files = json.loads(r.out)["files"]
    assert Path(files[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(Path(files[1]).read_text())["labels"] == [3] * 6


@pytest.mark.parametrize("args, words", [
    (("--label", "10"), "out of range"),
    (("--label", "-1"), "out of range"),
    (("--n", "0"), "--n"),
    (("--engine", "tensorrt"), "--engine"),
    (("--out", "x.txt"), ".csv or .npz"),
])
def test_bad_requests_are_exit_2(cli, runs, tmp_path, args, words):
    r = cli("sample", runs["cgan"], *args)
    assert r.code == 2 and words in r.out + r.err and "Traceback" not in r.err


def test_sample_on_a_classifier_run_is_exit_2(cli, runs):
    r = cli("sample", runs["classification"])
    assert r.code == 2 and "classification run" in r.err and "generative" in r.err


def test_a_prompt_on_a_run_that_is_not_a_language_model_is_exit_2(cli, runs):
    r = cli("sample", runs["cgan"], "--prompt", "hello")
    err = " ".join(r.err.split())
    assert r.code == 2 and "is a cgan run" in err and "language model" in err and "Traceback" not in err
