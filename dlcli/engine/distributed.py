"""Data-parallel training across processes: torchrun's (or SLURM's) environment -> a process group.

Every rank holds the whole in-memory dataset on its device and draws the same seeded permutation;
each global batch of `train.batch_size` samples is cut into one shard per rank, so the averaged
gradient is the gradient of the whole batch and a recipe means the same thing on any world size.
Rank 0 alone evaluates, logs, checkpoints and exports; it broadcasts each epoch's record so that
every rank takes the same schedule and early-stopping decisions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

from dlcli.errors import UsageError


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str = ""
    device: Any = None

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, net: Any, device: Any) -> Any:
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    def shard(self, idx: Any) -> Any:
        """This rank's contiguous part of a global batch's indices."""
        return idx.tensor_split(self.world)[self.rank] if self.active else idx

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's object on every rank."""
        if not self.active:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def mean(self, value: Any) -> Any:
        """The mean of a scalar tensor over the ranks."""
        if not self.active:
            return value
        import torch.distributed as dist

        value = value.clone()
        dist.all_reduce(value)
        return value / self.world

    def sync_buffers(self, net: Any) -> None:
        """Rank 0's buffers (batch-norm statistics) everywhere: each rank updated its own copy on
        its own shard after DDP last broadcast them, and rank 0's are the ones checkpointed."""
        if not self.active:
            return
        import torch.distributed as dist

        for buf in net.buffers():
            dist.broadcast(buf, src=0)

    def gather(self, obj: Any) -> list:
        if not self.active:
            return [obj]
        import torch.distributed as dist

        out: list = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        """Leave together: a rank that tears its connections down while rank 0 still writes the
        run's record can take gloo's threads down with it (an abort at exit)."""
        if self.active:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()


def slurm_environment(env: dict) -> None:
    """srun without torchrun: derive torch's variables from SLURM's (torchrun's win when both exist).
    SLURM_STEP_NUM_TASKS exists only inside an srun step, so a shell in an allocation stays single."""
    if "RANK" in env or int(env.get("SLURM_STEP_NUM_TASKS", "1")) <= 1:
        return
    env.setdefault("RANK", env["SLURM_PROCID"])
    env.setdefault("WORLD_SIZE", env["SLURM_STEP_NUM_TASKS"])
    env.setdefault("LOCAL_RANK", env.get("SLURM_LOCALID", "0"))
    env.setdefault("MASTER_PORT", "29500")
    if "MASTER_ADDR" not in env and "SLURM_LAUNCH_NODE_IPADDR" in env:
        env["MASTER_ADDR"] = env["SLURM_LAUNCH_NODE_IPADDR"]
    if "MASTER_ADDR" not in env:
        raise UsageError("started by SLURM with several tasks, but MASTER_ADDR is not set: export "
                         "MASTER_ADDR=<first node's address> in the batch script")


def from_environment(device_spec: str = "auto", env: Optional[dict] = None) -> Distributed:
    """Join the process group torchrun or SLURM describe; a single process when they describe none.
    CUDA ranks use nccl on cuda:LOCAL_RANK, CPU ranks gloo."""
    import torch
    import torch.distributed as dist

    env = os.environ if env is None else env
    slurm_environment(env)
    world = int(env.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    rank, local = int(env["RANK"]), int(env.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and not device_spec.startswith("cpu")
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    backend = "nccl" if cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world)
    return Distributed(rank, world, local, backend, device)
