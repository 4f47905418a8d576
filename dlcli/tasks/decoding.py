"""Autoregressive decoding of token sequences, greedy and beam search, batched, in numpy: the
same code decodes for evaluation (PyTorch scores) and for `dlcli predict` (ONNX Runtime scores,
no torch), so both engines decode alike wherever their scores agree.

`step(prefix)` maps (R, t) int64 prefixes (each starting with <bos>) to (R, V) log-probabilities
of the next token. Both decoders return (N, steps) int64 ids: each sequence's tokens up to and
including its <eos>, then <pad>; a sequence that never ends fills all `steps`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Step = Callable[[np.ndarray], np.ndarray]


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def greedy(step: Step, n: int, steps: int, bos: int, eos: int, pad: int) -> np.ndarray:
    """The most likely next token at every step (stops once every sequence has its <eos>)."""
    prefix = np.full((n, 1), bos, np.int64)
    done = np.zeros(n, bool)
    for _ in range(steps):
        token = np.where(done, pad, np.asarray(step(prefix)).argmax(-1))
        prefix = np.concatenate([prefix, token[:, None]], 1)
        done |= token == eos
        if done.all():
            break
    return padded(prefix[:, 1:], steps, pad)


def beam(step: Step, n: int, steps: int, bos: int, eos: int, pad: int, width: int,
         alpha: float = 0.6) -> np.ndarray:
    """Beam search with `width` beams per sequence: `step` sees n * width rows, sample-major (row
    i * width + j is beam j of sequence i). Finished beams stay in the beam at their score; the
    answer is the beam with the best score / lp(length), lp = ((5 + length) / 6) ** alpha (Wu et
    al. 2016; alpha 0 ranks by total log-probability). Width 1 decodes as greedy does."""
    rows = n * width
    prefix = np.full((rows, 1), bos, np.int64)
    scores = np.full((n, width), -np.inf)
    scores[:, 0] = 0.0  # one live beam at the start, or the first step would pick one token `width` times
    done = np.zeros(rows, bool)
    base = np.arange(n)[:, None] * width
    for _ in range(steps):
        logp = np.asarray(step(prefix), np.float64)
        vocab = logp.shape[1]
        logp = np.where(done[:, None], finished(vocab, pad), logp)
        total = (scores.reshape(rows, 1) + logp).reshape(n, width * vocab)
        index = np.argsort(-total, axis=1, kind="stable")[:, :width]  # ties: the lower beam, then token
        pick, token = (base + index // vocab).reshape(-1), (index % vocab).reshape(-1)
        prefix, scores = np.concatenate([prefix[pick], token[:, None]], 1), np.take_along_axis(total, index, 1)
        done = done[pick] | (token == eos)
        if done.all():
            break
    return padded(best(prefix[:, 1:], scores, width, pad, alpha), steps, pad)


def finished(vocab: int, pad: int) -> np.ndarray:
    """The log-probabilities a finished beam continues with: <pad>, at no cost."""
    row = np.full((1, vocab), -np.inf)
    row[0, pad] = 0.0
    return row


def best(tokens: np.ndarray, scores: np.ndarray, width: int, pad: int, alpha: float) -> np.ndarray:
    """Each sequence's beam with the best length-normalised score: (n, t)."""
    n = len(scores)
    length = (tokens != pad).sum(1).reshape(n, width)
    with np.errstate(invalid="ignore"):  # beams that never lived score -inf
        ranked = scores / ((5.0 + length) / 6.0) ** alpha
    return tokens[np.nan_to_num(ranked, nan=-np.inf).argmax(1) + np.arange(n) * width]


def decode(step: Step, n: int, steps: int, special: dict, method: str = "greedy", width: int = 1,
           alpha: float = 0.6) -> np.ndarray:
    """Greedy or beam decoding of n sequences; `special` holds the pad, bos and eos ids."""
    ids = special["bos"], special["eos"], special["pad"]
    if method == "beam" and width > 1:
        return beam(step, n, steps, *ids, width, alpha)
    return greedy(step, n, steps, *ids)


def padded(tokens: np.ndarray, steps: int, pad: int) -> np.ndarray:
    if tokens.shape[1] >= steps:
        return tokens[:, :steps]
    return np.concatenate([tokens, np.full((len(tokens), steps - tokens.shape[1]), pad, tokens.dtype)], 1)


def scores(decoded: np.ndarray, y: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Per sequence: (tokens right, target tokens), over each target's tokens and its <eos>; a
    sequence is right (an exact match) when all of them are."""
    decoded, y = np.asarray(decoded), np.asarray(y)
    width = max(decoded.shape[1], y.shape[1])
    decoded, y = padded(decoded, width, pad), padded(y, width, pad)
    mask = y != pad
    return ((decoded == y) & mask).sum(1), mask.sum(1)


def until_eos(ids: np.ndarray, eos: int, pad: int) -> list[list[int]]:
    """Each row's tokens before its first <eos> (or <pad>)."""
    out = []
    for row in np.asarray(ids).tolist():
        stop = next((i for i, t in enumerate(row) if t in (eos, pad)), len(row))
        out.append(row[:stop])
    return out
