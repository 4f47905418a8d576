"""Process settings that must be in place before torch is imported: how OpenMP threads wait.

OpenMP worker threads in torch's CPU kernels spin between parallel regions (libgomp spins about
300,000 times before it sleeps). On an idle machine that is the fastest way to wait. Beside another
busy process the spinning threads take the cores that process and the other OpenMP threads need:
3 epochs of digits-cnn took 3x longer than with one thread beside a process allocating memory in
a loop; passive waiting (a waiting thread sleeps at once) brought that to 1.24x, but costs 1.5x on
an idle machine (benchmarks/busy_machine.py, benchmarks/RESULTS.md). So dlcli looks before torch loads: when other processes kept at least
BUSY_CORES cores busy while dlcli started, OpenMP waits passively; otherwise nothing changes.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Optional

# Settings a user (or a launcher such as torchrun or SLURM) may have chosen: then nothing is changed.
OPENMP_WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
BUSY_CORES = 0.5  # other processes' load that makes spinning cost more than it saves
MIN_WINDOW = 0.05  # seconds of /proc/stat (10 ms ticks) needed to tell a busy neighbour from noise
decision: dict = {}  # what was decided and why, for `dlcli doctor`


def busy_seconds() -> Optional[float]:
    """CPU seconds every process on the machine has used so far (None without /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    t = os.times()
    return t.user + t.system


class Snapshot:
    """The machine's and this process's CPU time at one moment, to measure others' load since."""

    def __init__(self) -> None:
        self.busy, self.own, self.wall = busy_seconds(), own_seconds(), time.perf_counter()

    def others_cores(self) -> Optional[float]:
        """Cores other processes kept busy since the snapshot (waits for MIN_WINDOW of it)."""
        if self.busy is None:
            return None
        time.sleep(max(0.0, MIN_WINDOW - (time.perf_counter() - self.wall)))
        busy, own, wall = busy_seconds(), own_seconds(), time.perf_counter()
        if busy is None:
            return None
        return max(0.0, (busy - self.busy) - (own - self.own)) / (wall - self.wall)


def choose_wait_policy(others: Optional[float], environ: Any = os.environ) -> Optional[str]:
    """PASSIVE when other processes are busy enough to lose cores to spinning threads, else None."""
    if others is None or others < BUSY_CORES:
        return None
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return "PASSIVE"


class _BeforeTorch:
    """A meta-path finder that decides the wait policy at the moment torch is first imported, after
    dlcli's own start-up has served as the measuring window; it then steps aside for good."""

    def __init__(self, snapshot: Snapshot, environ: Any) -> None:
        self.snapshot, self.environ = snapshot, environ

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "torch":
            sys.meta_path.remove(self)
            others = self.snapshot.others_cores()
            policy = choose_wait_policy(others, self.environ)
            decision.update(others_cores=others, omp_wait_policy=policy or "default (spin, then sleep)")
        return None


def watch_for_torch(environ: Any = os.environ) -> bool:
    """Arrange for the wait policy to be chosen just before torch loads; False when the user chose
    one, torch is already loaded, or nothing can be measured here."""
    chosen = [f"{key}={environ[key]}" for key in OPENMP_WAIT_SETTINGS if key in environ]
    if chosen or "torch" in sys.modules:
        decision.update(omp_wait_policy=f"{', '.join(chosen)} (the user's)" if chosen else "torch was loaded first")
        return False
    snapshot = Snapshot()
    if snapshot.busy is None:
        return False
    sys.meta_path.insert(0, _BeforeTorch(snapshot, environ))
    return True
