"""What the benchmarks share: the machine's other load, measured while they time."""
from __future__ import annotations

import os


def busy_seconds() -> float:
    """CPU seconds spent by everything on the machine so far (all cores; 0 where /proc is missing)."""
    try:
        fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def publish(lines: list[str], write: bool) -> None:
    """Print a result section; with --write also append it to benchmarks/RESULTS.md."""
    from pathlib import Path

    print("\n".join(lines))
    if write:
        with open(Path(__file__).resolve().parent / "RESULTS.md", "a") as f:
            f.write("\n" + "\n".join(lines))

