"""The task contract (DESIGN section 4), run for every registered task on its own `example` recipe:
finite named losses, a SIGKILL mid-run then `--resume` ending bit-identical to an uninterrupted
run, lock then check passing strictly, and every exported module through the parity gate.
A new task is covered by registering it (and giving it an example)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlcli.tasks import tasks
from tests.engine.test_kill_resume import SITECUSTOMIZE

ROOT = Path(__file__).resolve().parents[2]
EXPORT = "export:\n  onnx: {opset: 18}\n"


def recipe(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}-contract\nseed: 0\n" + tasks.get(name).example.lstrip() + EXPORT)
    return path


def weights_sha(run: Path) -> str:
    return json.loads((run / "run.json").read_text())["weights"]["sha256"]


def killed_then_resumed(tmp_path: Path, path: Path, cli) -> Path:
    """`dlcli train` killed (SIGKILL) just before its second training state lands, then resumed."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "DLCLI_TEST_KILL": "rename:2"}
    runs = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-m", "dlcli", "train", str(path), "--runs-dir", str(runs),
                           "--set", "train.deterministic=true", "--set", "export=null"],  # weights are compared, not files
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == -9, proc.stderr[-2000:]
    run = next(runs.glob("*/0001"))
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2  # killed inside epoch 2's checkpoint
    result = cli("train", "--resume", run)
    assert result.code == 0, result.err
    return run


@pytest.mark.parametrize("name", tasks.names())
def test_task_contract(name, tmp_path, cli):
    task = tasks.get(name)
    assert task.example, f"task {name} has no example recipe for the contract test"
    path = recipe(tmp_path, name)
    assert cli("validate", path).code == 0

    locked = cli("lock", path, "--runs-dir", tmp_path / "runs", "--json")
    assert locked.code == 0, locked.err
    run = next((tmp_path / "runs").glob("*/0001"))

    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    named = [k for k in lines[0] if k.startswith("train.")]
    assert named and all(math.isfinite(line[k]) for line in lines for k in named), lines

    record = json.loads((run / "run.json").read_text())
    reports = record["export"].get("modules", {"model": record["export"]})
    for stem, report in reports.items():
        assert Path(report["file"]).is_file() and report["parity"]["passed"], (stem, report["parity"])

    checked = cli("check", path, "--runs-dir", tmp_path / "check-runs", "--json")
    assert checked.code == 0, checked.out + checked.err
    assert json.loads(checked.out)["mode"] == "strict"

    resumed = killed_then_resumed(tmp_path, path, cli)
    assert weights_sha(resumed) == weights_sha(run)
