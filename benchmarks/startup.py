"""Start-up: whole `dlcli` processes against `python -c "import torch"`, side by side.

Alternating, each a fresh process, median of --repeats: `python -c "import torch"`, the same plus
one Adam step (torch.optim imports torch._dynamo: the floor of any PyTorch training program), a
one-epoch `dlcli train` of recipes/iris-mlp.yaml and `dlcli validate` of it, after one warm-up
round. Targets: the one-epoch run at most 1.5x the torch import, validate at most 0.25x.

    .venv/bin/python benchmarks/startup.py [--repeats 7] [--write]
"""
from __future__ import annotations

from _machine import publish, timed_process  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
import argparse
import os
import platform
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = "recipes/iris-mlp.yaml"
TARGETS = {"dlcli train (1 epoch)": 1.5, "dlcli validate": 0.25}


# What any PyTorch training program pays before its first epoch: torch.optim imports torch._dynamo
# (and with it sympy) on an optimizer's first add_param_group/step, whoever wrote the loop.
OPTIMIZER_STEP = ("import torch; m = torch.nn.Linear(4, 3); o = torch.optim.Adam(m.parameters()); "
                  "m(torch.zeros(2, 4)).sum().backward(); o.step()")


def commands(runs: Path) -> dict[str, list[str]]:
    dlcli = [sys.executable, "-m", "dlcli"]
    return {"python -c 'import torch'": [sys.executable, "-c", "import torch"],
            "python: import torch, one Adam step": [sys.executable, "-c", OPTIMIZER_STEP],
            "dlcli train (1 epoch)": dlcli + ["train", RECIPE, "--set", "train.epochs=1", "--runs-dir", str(runs), "--json"],
            "dlcli validate": dlcli + ["validate", RECIPE]}


def user_environment() -> dict:
    """This environment as a user's shell has it: PYTHONDONTWRITEBYTECODE (set on some CI and
    sandbox machines) would make every run compile dlcli's sources anew, about 0.15 s."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def table(times: dict[str, list[float]], foreign: list[float], repeats: int) -> list[str]:
    base = statistics.median(times["python -c 'import torch'"])
    lines = [f"### start-up: whole processes against importing torch ({date.today()})", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, {platform.system()}. Median of {repeats} alternating runs, each a fresh "
             f"process; other processes used {statistics.median(foreign):.2f} cores meanwhile (median).", "",
             "| command | wall (s) | ratio to import torch | target |", "|---|---|---|---|"]
    for name, walls in times.items():
        wall = statistics.median(walls)
        target = f"<= {TARGETS[name]}x" if name in TARGETS else ""
        lines.append(f"| {name} | {wall:.2f} | {wall / base:.2f}x | {target} |")
    return lines + [""]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(Path(tmp))
        times: dict = {name: [] for name in cmds}
        foreign: list = []
        env = user_environment()
        for args in cmds.values():  # a warm-up: Python writes the bytecode caches a user's runs reuse
            timed_process(args, ROOT, env)
        for _ in range(a.repeats):
            for name, args in cmds.items():
                wall, other, _ = timed_process(args, ROOT, env)
                times[name].append(wall)
                foreign.append(other)
    publish(table(times, foreign, a.repeats), a.write)


if __name__ == "__main__":
    main()
