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
