"""benchmarks/batching.py runs end to end on tiny data and prints both contenders (no timing asserted)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_batching_benchmark_runs_on_tiny_data():
    # a subprocess, as `make bench` runs it: the script finds _machine.py through its own folder
    args = ["--samples-scale", "0.01", "--repeats", "1", "--seconds", "0.02", "--retries", "0", "--device", "cpu"]
    done = subprocess.run([sys.executable, "benchmarks/batching.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| resident float32 |" in done.stdout
    assert "| DataLoader num_workers=0 |" in done.stdout
