"""The torch module of the `ntm` layer and its addressing, writing and reading as small functions.

Imported by `NTM.build` only: like _torch_modules.py, it imports torch at import time.
Shapes: B batch, H heads, N memory rows, M row width, S the largest shift.
State math is elementwise products and sums, never matmul: autocast lowers matmuls to bf16 but
leaves these in the float32 the memory and weightings are kept in.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

EPS = 1e-8  # keeps the cosine and the sharpening's normaliser away from 0 / 0
MEMORY_INIT = 1e-6  # Collier & Beel 2018: a small constant memory learns fastest


def content_weights(key, beta, memory):
    """softmax_i(beta * cosine(key, memory_i)): key (B, H, M), beta (B, H, 1), memory (B, N, M) -> (B, H, N)."""
    dot = (key.unsqueeze(2) * memory.unsqueeze(1)).sum(-1)  # (B, H, N)
    norms = key.norm(dim=-1, keepdim=True) * memory.norm(dim=-1).unsqueeze(1)  # (B, H, N)
    return torch.softmax(beta * dot / (norms + EPS), dim=-1)


def interpolate(w_content, w_prev, gate):
    """g * w_c + (1 - g) * w_{t-1}: gate (B, H, 1), weightings (B, H, N)."""
    return gate * w_content + (1 - gate) * w_prev


def rotate(w, shifts):
    """Circular convolution w~(i) = sum_k w(i - k) s(k), k = -S..S: w (B, H, N), shifts (B, H, 2S+1).
    A one-hot on row j moves to row j + k under s = one-hot on k, wrapping at the end."""
    n, span = w.shape[-1], shifts.shape[-1] // 2
    # slices of a circularly padded copy, not a gather: a gather's backward adds with atomics on CUDA
    # (a different sum each run); padded[i + S] = w[i mod N], so w(i - k) = padded[i - k + S]
    padded = torch.cat([w[..., n - span:], w, w[..., :span]], dim=-1)  # (B, H, N + 2S)
    rolled = torch.stack([padded[..., span - k: span - k + n] for k in range(-span, span + 1)], dim=-1)
    return (rolled * shifts.unsqueeze(2)).sum(-1)  # (B, H, N)


def sharpen(w, gamma):
    """w^gamma / sum_i w_i^gamma: w (B, H, N), gamma (B, H, 1) >= 1."""
    powered = w.pow(gamma)
    return powered / (powered.sum(-1, keepdim=True) + EPS)


def address(memory, w_prev, key, beta, gate, gamma, shifts):
    """The paper's section 3.3 pipeline: content, interpolation, rotation, sharpening -> (B, H, N)."""
    return sharpen(rotate(interpolate(content_weights(key, beta, memory), w_prev, gate), shifts), gamma)


def write(memory, w, erase, add):
    """M * (1 - w e^T) + w a^T for one head: memory (B, N, M), w (B, N), erase and add (B, M)."""
    return write_heads(memory, w.unsqueeze(1), erase.unsqueeze(1), add.unsqueeze(1))


def write_heads(memory, w, erase, add):
    """`write` for each head in order, the first head's result the next one's memory:
    w (B, W, N), erase and add (B, W, M)."""
    w = w.unsqueeze(-1)  # (B, W, N, 1)
    keep, put = 1 - w * erase.unsqueeze(2), w * add.unsqueeze(2)  # (B, W, N, M) each
    for i in range(w.shape[1]):
        memory = memory * keep[:, i] + put[:, i]
    return memory


def read(memory, w):
    """r_h = w_h^T M: memory (B, N, M), w (B, H, N) -> (B, H, M)."""
    return (w.unsqueeze(-1) * memory.unsqueeze(1)).sum(2)


def float32(t):
    """`t` in float32, without a cast node in traced graphs where it already is."""
    return cast(t, torch.float32)


def cast(t, dtype):
    return t if t.dtype == dtype else t.to(dtype)


class Heads(nn.Module):
    """One linear from the controller state to every head's parameters, squashed, then split into
    the write heads' and the read heads'. Splits, not slices, and no batch size in any reshape:
    each step adds few nodes to an export."""

    def __init__(self, controller: int, width: int, readers: int, writers: int, shift: int):
        super().__init__()
        self.M, self.R, self.W, self.shifts = width, readers, writers, 2 * shift + 1
        self.per_head = width + 3 + self.shifts  # key, beta, gate, gamma, shift weights
        self.linear = nn.Linear(controller, (readers + writers) * self.per_head + writers * 2 * width)

    def forward(self, h):
        """(write heads' (key, beta, gate, gamma, shifts), read heads' ones, erase (B, W, M), add (B, W, M));
        key (B, H, M), beta, gate and gamma (B, H, 1), shifts (B, H, 2S+1)."""
        out = float32(self.linear(h))  # autocast may give bf16: the addressing runs in float32
        M, H = self.M, self.R + self.W
        heads, ea = out.split([H * self.per_head, self.W * 2 * M], dim=-1)
        parts = heads.unflatten(-1, (H, self.per_head)).split([M, 1, 1, 1, self.shifts], dim=-1)
        key, beta, gate, gamma, shifts = parts
        squashed = (key, F.softplus(beta), torch.sigmoid(gate), 1 + F.softplus(gamma), torch.softmax(shifts, dim=-1))
        writers, readers = zip(*(p.split([self.W, self.R], dim=1) for p in squashed))
        erase, add = ea.unflatten(-1, (self.W, 2 * M)).split([M, M], dim=-1)
        return writers, readers, torch.sigmoid(erase), torch.tanh(add)


class NTMModule(nn.Module):
    """(B, T, F) -> (B, T, C + R*M): concat(h_t, r_t) at every step."""

    def __init__(self, features: int, memory: int, width: int, controller: int, read_heads: int,
                 write_heads: int, shift: int):
        super().__init__()
        self.N, self.M, self.R, self.W = memory, width, read_heads, write_heads
        self.cell = nn.LSTMCell(features + read_heads * width, controller)
        self.heads = Heads(controller, width, read_heads, write_heads, shift)
        # 1-D on purpose: initialisers fill matrices only, and these starts must survive them
        self.read0 = nn.Parameter(torch.zeros(read_heads * width))
        start = torch.zeros(write_heads + read_heads, memory)
        start[:, 0] = 2 * math.log(memory)  # softmax: N^2 / (N^2 + N - 1) of the weight on row 0, 97% at N = 32
        self.weighting0 = nn.Parameter(start.flatten())  # write heads' rows first, then read heads'

    def initial_state(self, x):
        """(memory (B, N, M), write weightings (B, W, N), read weightings (B, R, N), reads (B, R*M), (h, c))."""
        B = x.shape[0]
        memory = torch.full((B, self.N, self.M), MEMORY_INIT, dtype=torch.float32, device=x.device)
        w = torch.softmax(float32(self.weighting0).unflatten(0, (self.W + self.R, self.N)), dim=-1)
        w_write, w_read = w.expand(B, -1, -1).split([self.W, self.R], dim=1)
        h = x.new_zeros(B, self.cell.hidden_size)
        return memory, w_write, w_read, float32(self.read0).expand(B, -1), (h, h)

    def step(self, x_t, memory, w_write, w_read, r, hc):
        """One time step: the controller, then every write head in order, then the read heads."""
        h, c = self.cell(torch.cat([x_t, cast(r, x_t.dtype)], dim=-1), hc)  # (B, C)
        writers, readers, erase, add = self.heads(h)
        w_write = address(memory, w_write, *writers)
        memory = write_heads(memory, w_write, erase, add)
        w_read = address(memory, w_read, *readers)
        return memory, w_write, w_read, read(memory, w_read).flatten(1), (h, c)

    def forward(self, x):
        memory, w_write, w_read, r, hc = self.initial_state(x)
        hs, rs = [], []
        for t in range(x.shape[1]):  # a tracing exporter unrolls this: its graph fixes T (see NTM)
            memory, w_write, w_read, r, hc = self.step(x[:, t], memory, w_write, w_read, r, hc)
            hs.append(hc[0])
            rs.append(r)
        h = torch.stack(hs, dim=1)  # (B, T, C)
        return torch.cat([h, cast(torch.stack(rs, dim=1), h.dtype)], dim=-1)  # (B, T, C + R*M)
