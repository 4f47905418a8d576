"""Process settings that must be in place before torch is imported.

OpenMP worker threads in torch's CPU kernels spin between parallel regions (libgomp spins about
300,000 times before it sleeps). Beside another busy process on a small machine those spinning
threads take the cores the busy process and the other OpenMP threads need: 3 epochs of digits-cnn
took 4.6x longer beside a process that allocates memory in a loop. Passive waiting puts a waiting
thread to sleep at once; benchmarks/busy_machine.py measures both, beside a neighbour and idle.
"""
from __future__ import annotations

import os
import sys

# Settings a user (or a launcher such as torchrun or SLURM) may have chosen: then nothing is changed.
OPENMP_WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def calm_openmp(environ: dict = os.environ) -> bool:
    """Ask OpenMP for passive waiting unless the user chose a wait policy; True when it was set.
    Only effective before torch (and with it libgomp) is loaded, which is why main() calls it first."""
    if any(key in environ for key in OPENMP_WAIT_SETTINGS) or "torch" in sys.modules:
        return False
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
