"""Shared fixtures: run the CLI in-process and capture exit code, stdout and stderr."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def no_plots_by_default(monkeypatch):
    """Pictures cost a second per run (matplotlib): off where a test's recipe leaves train.plots unset."""
    monkeypatch.setenv("DLCLI_PLOTS", "0")


_DEFAULT_THREADS: list[int] = []


def default_threads() -> int:
    """torch's own thread count on this machine (asked of a fresh process once per worker: in this
    one an earlier test may have changed it before anyone could look)."""
    if not _DEFAULT_THREADS:
        done = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                              capture_output=True, text=True, check=True)
        _DEFAULT_THREADS.append(int(done.stdout.split()[-1]))
    return _DEFAULT_THREADS[0]


@pytest.fixture(autouse=True)
def torch_process_settings():
    """A recipe's train.threads and train.deterministic are process-wide (digits-ci trains on 1
    thread): put them back after each test, so an in-process run never depends on which tests ran
    before it in this worker (a subprocess run starts from the defaults)."""
    yield
    torch = sys.modules.get("torch")
    if not hasattr(torch, "get_num_threads"):  # not imported, or a test's stand-in (test_runtime.py)
        return
    if torch.get_num_threads() != default_threads():
        torch.set_num_threads(default_threads())
    if torch.are_deterministic_algorithms_enabled():
        torch.use_deterministic_algorithms(False)


@pytest.fixture
def cli(capsys, monkeypatch):
    """cli("validate", "x.yaml") -> Result; runs dlcli's real entry point (exit-code mapping included)."""
    from dlcli.cli.app import main

    def run(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["dlcli", *map(str, args)])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture
def write(tmp_path):
    """write("name.yaml", text) -> path of a dedented file under tmp_path."""

    def make(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return make


TINY = """
name: tiny
data:
  source: iris
model:
  - linear: 8
  - relu
  - linear: auto
train:
  epochs: 2
  batch_size: 16
"""


def train_once(folder: Path, recipes: dict[str, str]) -> dict[str, Path]:
    """{name: recipe text} -> {name: run directory}, each trained by the real command into
    folder/runs: for module-scoped fixtures, where the function-scoped `cli` is not available."""
    from typer.testing import CliRunner

    from dlcli.cli.app import app

    runs = {}
    for name, text in recipes.items():
        (folder / f"{name}.yaml").write_text(text)
        r = CliRunner().invoke(app, ["train", str(folder / f"{name}.yaml"), "--runs-dir", str(folder / "runs")])
        assert r.exit_code == 0, r.output
        runs[name] = folder / "runs" / name / "0001"
    return runs
