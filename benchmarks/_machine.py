"""What the benchmarks share: the machine's other load, measured while they time."""
from __future__ import annotations

import os
from pathlib import Path


def busy_seconds() -> float:
    """CPU seconds spent by everything on the machine so far (all cores; 0 where /proc is missing)."""
    from dlcli.runtime import busy_seconds as machine_busy

    return machine_busy() or 0.0


def timed_process(args: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, cores other processes used meanwhile, stdout) of one process; exits on failure."""
    import subprocess
    import sys
    import time

    busy, before, started = busy_seconds(), os.times(), time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    after = os.times()
    own = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    return wall, max(busy_seconds() - busy - own, 0.0) / wall, done.stdout


def publish(lines: list[str], write: bool) -> None:
    """Print a result section; with --write also append it to benchmarks/RESULTS.md."""
    from pathlib import Path

    print("\n".join(lines))
    if write:
        with open(Path(__file__).resolve().parent / "RESULTS.md", "a") as f:
            f.write("\n" + "\n".join(lines))

