"""Torch modules of the layers that attend over an encoder's output (dlcli/nn/cross_attention.py).

A layer list builds an nn.Sequential of one-input modules, so the encoder's output ("memory")
reaches these modules beside the call: `attending(decoder, memory)` hands it to every one of
them for the forward passes inside it and takes it back after, so no module keeps a tensor (or
its graph) between calls. Tracing for ONNX sees it as an ordinary input of the decoder.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from dlcli.nn._torch_modules import causal_mask


class MemoryReader(nn.Module):
    """A module that reads the memory `attending` lends it; with `keep` it keeps its last attention
    weights (B, T, S), averaged over heads, for pictures."""

    reads_memory = True

    def __init__(self):
        super().__init__()
        self.memory = None
        self.keep = False
        self.weights = None

    def read(self) -> torch.Tensor:
        if self.memory is None:
            raise RuntimeError(f"{type(self).__name__} attends over an encoder's output: run its network inside "
                               "dlcli.nn._seq2seq_modules.attending(network, memory)")
        return self.memory

    def kept(self, weights) -> None:
        if self.keep:
            self.weights = weights.detach()


def readers(net: nn.Module) -> list[MemoryReader]:
    return [m for m in net.modules() if getattr(m, "reads_memory", False)]


@contextmanager
def attending(net: nn.Module, memory: torch.Tensor) -> Iterator[nn.Module]:
    """`net`, whose memory readers see `memory` (B, S, E_mem) until the block ends."""
    found = readers(net)
    for m in found:
        m.memory = memory
    try:
        yield net
    finally:
        for m in found:
            m.memory = None


def keep_attention(net: nn.Module, on: bool) -> list[MemoryReader]:
    """Switch weight keeping of every reader on or off; the readers, in order."""
    found = readers(net)
    for m in found:
        m.keep, m.weights = on, None
    return found


class DotAttention(MemoryReader):
    """Multi-head scaled dot-product attention of (B, T, E) queries over (B, S, E_mem): [query, context]."""

    def __init__(self, query: int, mem: int, heads: int, dropout: float):
        super().__init__()
        self.project = nn.Linear(query, mem) if query != mem else nn.Identity()
        self.attn = nn.MultiheadAttention(mem, heads, dropout=dropout, batch_first=True)

    def forward(self, h):
        m = self.read()
        context, weights = self.attn(self.project(h), m, m, need_weights=self.keep)
        if weights is not None:
            self.kept(weights)
        return torch.cat([h, context], dim=-1)  # (B, T, E + E_mem)


class AdditiveAttention(MemoryReader):
    """Bahdanau's score v . tanh(W q_t + U m_s); the context is the softmax-weighted mean of the raw states."""

    def __init__(self, query: int, mem: int, dim: int, dropout: float):
        super().__init__()
        self.w = nn.Linear(query, dim, bias=False)
        self.u = nn.Linear(mem, dim)
        self.v = nn.Linear(dim, 1, bias=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, h):
        m = self.read()
        scores = self.v(torch.tanh(self.w(h)[:, :, None] + self.u(m)[:, None])).squeeze(-1)  # (B, T, S)
        weights = torch.softmax(scores.float(), dim=-1).to(m.dtype)
        self.kept(weights)
        return torch.cat([h, self.drop(weights) @ m], dim=-1)  # (B, T, E + E_mem)


class DecoderLayer(nn.Module):
    """Causal self-attention, attention over the memory, feed-forward; each a residual branch."""

    def __init__(self, dim: int, heads: int, ff: int, dropout: float, activation: str, norm_first: bool):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.cross = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.ff = nn.Sequential(nn.Linear(dim, ff), act, nn.Dropout(dropout), nn.Linear(ff, dim))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(3))
        self.drops = nn.ModuleList(nn.Dropout(dropout) for _ in range(3))
        self.norm_first = norm_first

    def branch(self, i: int, f, x):
        if self.norm_first:
            return x + self.drops[i](f(self.norms[i](x)))
        return self.norms[i](x + self.drops[i](f(x)))

    def forward(self, x, memory, mask, keep: bool):
        found = []

        def cross(y):
            out, w = self.cross(y, memory, memory, need_weights=keep)
            found.append(w)
            return out

        x = self.branch(0, lambda y: self.self_attn(y, y, y, attn_mask=mask, need_weights=False)[0], x)
        x = self.branch(1, cross, x)
        return self.branch(2, self.ff, x), found[0]


class Decoder(MemoryReader):
    """A stack of DecoderLayers on (B, T, E); the last layer's cross-attention weights are kept."""

    def __init__(self, dim: int, depth: int, heads: int, ff: int, dropout: float, activation: str,
                 norm_first: bool):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(dim, heads, ff, dropout, activation, norm_first)
                                    for _ in range(depth))
        # pre-LN stacks leave the residual stream unnormalised: close them with a layernorm
        self.norm = nn.LayerNorm(dim) if norm_first else nn.Identity()

    def forward(self, x):
        m, mask = self.read(), causal_mask(x.shape[1], x.device)
        for layer in self.layers:
            x, weights = layer(x, m, mask, self.keep)
        if weights is not None:
            self.kept(weights)
        return self.norm(x)  # (B, T, E)


class Attending(nn.Module):
    """A decoder as a module of two inputs, (B, T, ...) and the memory (B, S, E_mem): what export traces."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x, memory):
        with attending(self.net, memory):
            return self.net(x)
