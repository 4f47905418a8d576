"""The fast path's pieces, tested on the CPU: channels_last, torch.compile, uint8 images converted
once, fused optimizers, cudnn.benchmark outside deterministic mode, FLOPs, MFU and warm-up timing."""
from __future__ import annotations

import json
import shutil
import time

import pytest

from tests.conftest import TINY

CONV = """
name: conv
data: {source: digits}
model:
  - conv2d: {out: 8, kernel: 3, padding: 1}
  - batchnorm
  - relu
  - flatten
  - linear: auto
train:
  epochs: 2
  batch_size: 64
"""


def session(write, text, **kw):
    from dlcli.engine.setup import build_fit
    from dlcli.recipe.check import load_recipe

    return build_fit(load_recipe(write("r.yaml", text)), **kw)


def test_channels_last_is_off_on_the_cpu_unless_asked_and_only_for_conv_nets(write):
    import torch

    assert not session(write, CONV).channels_last
    s = session(write, CONV.replace("batch_size: 64", "batch_size: 64\n  channels_last: true"))
    assert s.channels_last
    conv = next(m for m in s.nets["net"].modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert s.data.x["train"].is_contiguous(memory_format=torch.channels_last)
    mlp = TINY.replace("batch_size: 16", "batch_size: 16\n  channels_last: true")
    assert not session(write, mlp).channels_last  # no 2-D convolution: nothing to gain


def test_channels_last_training_matches_the_default_layout(cli, write, tmp_path):
    from tests.engine.test_training import train

    a = train(cli, write("a.yaml", CONV), tmp_path / "a")
    b = train(cli, write("b.yaml", CONV.replace("batch_size: 64", "batch_size: 64\n  channels_last: true")), tmp_path / "b")
    # the same model in another memory order: its kernels sum in another order (more so on one
    # thread), so two trainings drift apart by rounding (0.2% of the loss seen); a wrong layout is far off
    assert b["metrics"]["test"]["loss"] == pytest.approx(a["metrics"]["test"]["loss"], rel=1e-2)


@pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="torch.compile on the CPU needs a C compiler")
def test_compile_trains_the_same_model_and_times_its_warm_up_apart(cli, write, tmp_path):
    from tests.engine.test_training import train

    text = TINY.replace("epochs: 2", "epochs: 3")
    plain = train(cli, write("p.yaml", text), tmp_path / "p")
    compiled = train(cli, write("c.yaml", text.replace("batch_size: 16", "batch_size: 16\n  compile: true")), tmp_path / "c")
    lines = [json.loads(x) for x in (tmp_path / "c" / "tiny" / "0001" / "metrics.jsonl").read_text().splitlines()]
    assert "warmup_seconds" in lines[0] and all("warmup_seconds" not in x for x in lines[1:])
    assert lines[0]["warmup_seconds"] <= lines[0]["seconds"]
    assert compiled["metrics"]["test"]["loss"] == pytest.approx(plain["metrics"]["test"]["loss"], rel=1e-3)


def test_uint8_images_are_converted_once_and_normalised_like_floats():
    import numpy as np
    import torch

    from dlcli.engine.pipeline import make_bundle

    pipe = make_bundle({"net": torch.nn.Identity()}, np.float32([100.0]), np.float32([50.0]))
    raw = torch.tensor([[0, 100, 255]], dtype=torch.uint8)
    assert torch.equal(pipe(raw), pipe(raw.float()))
    assert torch.allclose(pipe(raw), torch.tensor([[-2.0, 0.0, 3.1]]))


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop", "adagrad"])
def test_fused_optimizers_where_torch_has_them(name):
    import torch

    from dlcli.engine.optimizers import optimizers

    opt = optimizers.get(name)()
    made = opt.make([torch.nn.Parameter(torch.zeros(2))], opt.Args(), fused=True)
    assert bool(made.defaults.get("fused")) is opt.fusable
    assert opt.fusable == (name in ("adam", "adamw", "sgd"))


def test_cudnn_autotuning_only_outside_deterministic_mode():
    import torch

    from dlcli.engine.seed import configure_determinism

    try:
        configure_determinism(False, None)
        assert torch.backends.cudnn.benchmark
        configure_determinism(True, None)
        assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
    finally:
        configure_determinism(False, None)


def test_flops_per_sample_counts_forward_and_backward_without_touching_the_rng():
    import torch
    from torch import nn

    from dlcli.nn.flops import flops_per_sample

    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    before = torch.get_rng_state()
    flops = flops_per_sample(net, x, y, nn.functional.cross_entropy)
    # forward 2*(4*8 + 8*3) = 112; backward: both weight grads (64 + 48) and the hidden input grad (48)
    assert flops == 272
    assert torch.equal(torch.get_rng_state(), before)  # the copy's dropout drew from a forked RNG
    assert net[0].weight.grad is None  # the copy took the gradients


@pytest.mark.parametrize("name, peak", [("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12),
                                        ("NVIDIA A100-SXM4-80GB", 312e12), ("NVIDIA GeForce GTX 1080", None)])
def test_bf16_peak_by_device_name(monkeypatch, name, peak):
    import torch

    from dlcli.engine.throughput import bf16_peak

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert bf16_peak(torch.device("cuda")) == peak
    assert bf16_peak(torch.device("cpu")) is None


def test_warm_up_steps_are_timed_apart_and_mfu_needs_a_peak():
    import torch

    from dlcli.engine.throughput import EpochTimer

    timer = EpochTimer(torch.device("cpu"), {0})
    timer.before(0)
    time.sleep(0.05)
    timer.after(0, 10)
    timer.before(1)
    timer.after(1, 10)
    record = timer.record(20, flops=1e6, peak=None)
    assert record["warmup_seconds"] >= 0.05 and "mfu" not in record
    assert record["samples_per_s"] > 10 / 0.05  # 10 samples over the few microseconds left
    again = timer.record(20, flops=1e6, peak=1e9)
    assert again["mfu"] == pytest.approx(1e6 * again["samples_per_s"] / 1e9, rel=1e-3)
