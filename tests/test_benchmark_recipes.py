"""The benchmark recipes validate (without torch), and the training benchmarks run end to end in
their CPU smoke configurations: both contenders, or the GFLOP/s line, printed (no timing asserted)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BENCHMARK_RECIPES = ["airbench94", "resnet-mfu"]

NO_TORCH = """
import sys
from dlcli.cli.app import main
sys.argv = ["dlcli", "validate", sys.argv[1]]
try:
    main()
except SystemExit as e:
    assert e.code in (0, None), e.code
assert "torch" not in sys.modules, "dlcli validate imported torch"
"""


@pytest.mark.parametrize("name", BENCHMARK_RECIPES)
def test_benchmark_recipe_validates(cli, name):
    r = cli("validate", ROOT / "benchmarks" / f"{name}.yaml", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["valid"] is True


def test_validating_a_synthetic_images_recipe_does_not_import_torch():
    done = subprocess.run([sys.executable, "-c", NO_TORCH, "benchmarks/airbench94.yaml"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def smoke(script: str, *args: str) -> str:
    """stdout of a benchmark script run as `make bench` runs it (it finds its helpers by its own folder)."""
    done = subprocess.run([sys.executable, f"benchmarks/{script}", "--device", "cpu", "--samples", "256",
                           "--epochs", "2", "--no-compile", "--precision", "fp32", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_airbench_benchmark_runs_on_the_cpu():
    out = smoke("airbench.py", "--repeats", "1")
    assert "| dlcli train |" in out and "| hand-written PyTorch loop |" in out
    assert "dlcli / hand loop:" in out


def test_mfu_benchmark_runs_on_the_cpu():
    out = smoke("mfu.py", "--width", "8", "--depth", "8")
    assert "GFLOP/s |" in out and "training FLOPs per sample" in out
    assert "MFU | CUDA only" in out
