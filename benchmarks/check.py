"""`dlcli check` of the shipped CI recipe: wall time against the training it re-does.

Side by side, alternating, each a fresh `dlcli` process as CI runs it, with the machine's cores:
`dlcli train recipes/digits-ci.yaml` (train + export + parity gate: the baseline) and
`dlcli check recipes/digits-ci.yaml` (the same training, deterministic, then lock and compare
against recipes/digits-ci.lock.json). Target: check <= 60 s on 2 CPU cores.

    .venv/bin/python benchmarks/check.py [--repeats 3] [--write]

--write appends the table and the machine to benchmarks/RESULTS.md.
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
RECIPE = "recipes/digits-ci.yaml"
TARGET_SECONDS = 60.0
COMMANDS = {"dlcli train": ["train", RECIPE], "dlcli check": ["check", RECIPE]}


def timed(args: list[str], runs: Path) -> tuple[float, float]:
    """(wall seconds, cores other processes used meanwhile) of one dlcli process."""
    wall, other, _ = timed_process([sys.executable, "-m", "dlcli", *args, "--runs-dir", str(runs), "--json"], ROOT)
    return wall, other


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--write", action="store_true")
    a = p.parse_args()
    times: dict = {name: [] for name in COMMANDS}
    foreign: list = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.repeats):
            for name, args in COMMANDS.items():
                wall, other = timed(args, Path(tmp))
                times[name].append(wall)
                foreign.append(other)
    train, check = (statistics.median(times[n]) for n in COMMANDS)
    lines = [f"### dlcli check of {RECIPE} ({date.today()})", "",
             f"Machine: {machine()}. Median of {a.repeats} alternating runs, each a fresh process; other processes "
             f"used {statistics.median(foreign):.2f} cores meanwhile (median).", "",
             "| command | wall (s) | ratio to train | target |", "|---|---|---|---|",
             f"| dlcli train (train + export + parity) | {train:.2f} | 1.00x | |",
             f"| dlcli check (train + export + lock + compare) | {check:.2f} | {check / train:.2f}x | <= {TARGET_SECONDS:.0f} s |", ""]
    publish(lines, a.write)


if __name__ == "__main__":
    main()
