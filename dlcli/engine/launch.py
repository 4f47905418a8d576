"""`dlcli train --nproc-per-node N [--nnodes M --rdzv-endpoint HOST:PORT]`: relaunch through
torch.distributed.run (torchrun), which starts N copies of the same `dlcli train` per node."""
from __future__ import annotations

import os
import sys
from typing import Optional


def torchrun_args(nproc: int, nnodes: int, endpoint: Optional[str], train_args: list[str]) -> list[str]:
    """torchrun's arguments; one node without an endpoint meets on localhost (--standalone)."""
    from dlcli.errors import UsageError

    if nnodes > 1 and not endpoint:
        raise UsageError("--nnodes above 1 needs --rdzv-endpoint HOST:PORT (the same on every node)")
    rendezvous = ["--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint] if endpoint else ["--standalone"]
    return ["--nproc-per-node", str(nproc), "--nnodes", str(nnodes), *rendezvous,
            "-m", "dlcli", "train", *train_args]


def relaunch(nproc: int, nnodes: int, endpoint: Optional[str], train_args: list[str]) -> int:
    """Run torchrun in this process and return the exit code of the first rank that failed (0 if none).
    The ranks print their own messages; torchrun's traceback for a failed child is not repeated."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    # torchrun would pin 1 thread per rank and say so; split this machine's cores between the ranks instead
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    args = get_args_parser().parse_args(torchrun_args(nproc, nnodes, endpoint, train_args))
    try:
        run(args)
    except ChildFailedError as e:
        rank, failure = e.get_first_failure()
        code = failure.exitcode if failure.exitcode > 0 else 1
        print(f"rank {rank} of the data-parallel run exited with {failure.exitcode}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        return 130
    return 0
