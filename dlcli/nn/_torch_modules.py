"""The torch modules behind layers that torch.nn lacks as such.

This is the one module of dlcli.nn that imports torch at import time; only `build()` methods
import it, so planning a network (`dlcli validate`) never loads torch.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class Reshape(nn.Module):
    """Reshape every sample to `shape` (the batch axis is kept)."""

    def __init__(self, shape: tuple):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)  # (B, *shape)


class Select(nn.Module):
    """Pick one output of a layer with several (an RNN's `all`, a parallel's `list`)."""

    def __init__(self, index: int):
        super().__init__()
        self.index = index

    def forward(self, xs):
        return xs[self.index]


class Embedding(nn.Embedding):
    """nn.Embedding that accepts ids of any dtype: data loaders often yield float tensors."""

    def forward(self, ids):
        return super().forward(ids.long())  # (B, T) -> (B, T, D)


class Softmax(nn.Module):
    """softmax / log_softmax over a per-sample axis (`dim` counts axes after the batch)."""

    def __init__(self, dim: int, log: bool):
        super().__init__()
        self.dim = dim + 1 if dim >= 0 else dim
        self.log = log

    def forward(self, x):
        return torch.log_softmax(x, self.dim) if self.log else torch.softmax(x, self.dim)


class GlobalAvgPool(nn.Module):
    """Mean over every axis after the channels: (B, C, ...) -> (B, C)."""

    def forward(self, x):
        return x.flatten(2).mean(-1)  # (B, C)


class Recurrent(nn.Module):
    """A batch-first nn.RNN/LSTM/GRU returning the sequence, the last hidden state or both."""

    def __init__(self, rnn: nn.Module, returns: str):
        super().__init__()
        self.rnn, self.returns = rnn, returns
        self.dirs = 2 if rnn.bidirectional else 1

    def forward(self, x):
        seq, h = self.rnn(x)  # seq (B, T, H*dirs); h (layers*dirs, B, H)
        if isinstance(h, tuple):  # LSTM: (h, c)
            h = h[0]
        if self.returns == "sequence":
            return seq
        last = h[-self.dirs:].transpose(0, 1).reshape(x.shape[0], -1)  # (B, H*dirs)
        return last if self.returns == "last" else (seq, last)


def causal_mask(t: int, device) -> torch.Tensor:
    """True above the diagonal: position i may not attend to j > i."""
    return torch.ones(t, t, dtype=torch.bool, device=device).triu(1)  # (T, T)


class SelfAttention(nn.Module):
    """Multi-head self-attention on (B, T, E), optionally causal."""

    def __init__(self, dim: int, heads: int, dropout: float, causal: bool):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.causal = causal

    def forward(self, x):
        mask = causal_mask(x.shape[1], x.device) if self.causal else None
        return self.attn(x, x, x, attn_mask=mask, need_weights=False)[0]  # (B, T, E)


class Encoder(nn.Module):
    """nn.TransformerEncoder on (B, T, E) with an optional causal mask."""

    def __init__(self, encoder: nn.Module, causal: bool):
        super().__init__()
        self.encoder, self.causal = encoder, causal

    def forward(self, x):
        if not self.causal:
            return self.encoder(x)  # (B, T, E)
        mask = causal_mask(x.shape[1], x.device)
        return self.encoder(x, mask=mask, is_causal=True)  # (B, T, E)


class LearnedPositions(nn.Module):
    """x + a learned vector per position (GPT-2 style, N(0, 0.02) at start)."""

    def __init__(self, max_len: int, dim: int):
        super().__init__()
        self.table = nn.Embedding(max_len, dim)
        nn.init.normal_(self.table.weight, std=0.02)

    def forward(self, x):
        pos = torch.arange(x.shape[1], device=x.device)  # (T,)
        return x + self.table(pos)  # (B, T, E)


class SinusoidalPositions(nn.Module):
    """x + the fixed sin/cos encoding of Vaswani et al. 2017, computed for any length."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        half = (dim + 1) // 2
        freq = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) * 2 / dim))
        self.register_buffer("freq", freq, persistent=False)  # (E/2,)

    def forward(self, x):
        pos = torch.arange(x.shape[1], device=x.device, dtype=x.dtype)  # (T,)
        angle = pos[:, None] * self.freq.to(x.dtype)[None, :]  # (T, E/2)
        enc = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1)  # (T, 2*E/2) interleaved
        return x + enc[:, : self.dim]  # (B, T, E)


class Residual(nn.Module):
    """f(x) + x, or f(x) + projection(x) when f changes the shape."""

    def __init__(self, body: nn.Module, projection: nn.Module | None):
        super().__init__()
        self.body = body
        self.projection = projection if projection is not None else nn.Identity()

    def forward(self, x):
        return self.body(x) + self.projection(x)  # same shape as body(x)


class Parallel(nn.Module):
    """Run branches on the same input; merge by concatenating channels, summing or listing."""

    def __init__(self, branches: list, merge: str):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.merge = merge

    def forward(self, x):
        outs = [branch(x) for branch in self.branches]  # each (B, C_i, ...)
        if self.merge == "concat":
            return torch.cat(outs, dim=1)  # (B, sum C_i, ...)
        if self.merge == "sum":
            total = outs[0]
            for out in outs[1:]:
                total = total + out
            return total  # (B, C, ...)
        return tuple(outs)
