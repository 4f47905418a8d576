"""The token layout the seq2seq task reads (dlcli/data/sequences.py and csv pairs write it):
right-padded source ids, targets ending in <eos>, and the per-length groups evaluation uses."""
from __future__ import annotations

from typing import Any

import numpy as np

PAD = 0  # the sequence sources' and csv pairs' shared special ids
SPECIAL = {"pad": 0, "bos": 1, "eos": 2}


def used_columns(ids: Any) -> int:
    """Columns up to the last one holding a token other than <pad> (at least 1)."""
    import torch

    used = torch.nonzero((ids != PAD).any(0))
    return int(used[-1]) + 1 if len(used) else 1


def right_aligned(x: Any) -> Any:
    """Right-padded sources (B, S) moved to the right end: <pad> first, then the tokens."""
    import torch

    n = (x != PAD).sum(1, keepdim=True)
    cols = (torch.arange(x.shape[1], device=x.device)[None] + n) % x.shape[1]
    return x.gather(1, cols)


def length_groups(fit: Any, split: str) -> list[tuple[int, Any]]:
    """(length, row indices in the split) per distinct length, shortest first: the source's
    symbolic length when the data says it, otherwise its token count."""
    import torch

    idx = fit.data.indices[split]
    given = fit.data.dataset.extra.get("lengths")
    if given is not None:
        lengths = np.asarray(given)[idx]
    else:
        lengths = (fit.data.x[split] != PAD).sum(1).cpu().numpy()
    return [(int(n), torch.as_tensor(np.flatnonzero(lengths == n), device=fit.device)) for n in np.unique(lengths)]
