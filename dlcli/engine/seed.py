"""Seeding: the same recipe, seed and machine give the same weights, bit for bit, on the CPU."""
from __future__ import annotations

import random
from typing import Any


def seed_everything(seed: int, device: Any) -> Any:
    """Seed python, numpy and torch; return the generator that draws batches and augmentations."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def rng_state(gen: Any) -> dict:
    import torch

    state = {"torch": torch.get_rng_state(), "generator": gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict, gen: Any) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    gen.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def configure_determinism(deterministic: bool, threads: int | None) -> dict:
    """Apply train.deterministic and train.threads process-wide; return what is in force.

    CUBLAS_WORKSPACE_CONFIG must be set before the first cuBLAS call for deterministic GEMMs.
    """
    import os

    import torch

    if threads:
        torch.set_num_threads(threads)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if deterministic != torch.are_deterministic_algorithms_enabled():
        torch.use_deterministic_algorithms(deterministic)  # imports torch._inductor (~1.4 s): only on a change
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic  # autotuned kernels may differ from run to run
    return {"deterministic": deterministic, "threads": torch.get_num_threads()}


def nondeterministic_op(error: BaseException) -> str | None:
    """The operation named by torch's error for an op without a deterministic implementation."""
    text = str(error)
    if "deterministic implementation" not in text:
        return None
    return text.split(" does not have")[0].strip() or text.splitlines()[0]
