"""Language models: next-token prediction over windows of `context` tokens of a text.

Training draws windows at random offsets of the train split's token stream (nanoGPT's sampler;
an epoch is `epoch_tokens` tokens, the whole train split by default). Evaluation reads each
split once, in consecutive windows, so every token but the first is predicted exactly once from
up to `context` tokens before it; a split is a contiguous block of the corpus (the text sources
cut it so), so no window spans two splits.

Figures: `loss` in nats per predicted token, `perplexity` = exp(loss), `bits_per_char` (the
split's total nats in bits over the characters of the predicted tokens: the same as bits per
token for a character tokenizer), and beside them `unigram_entropy` and `bigram_entropy`, the
train split's own unigram entropy and conditional bigram entropy H(x_t | x_t-1), in bits per
character: the simplest models' scores, which a language model should beat.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Optional

import numpy as np
from pydantic import Field

from dlcli.tasks.base import ExportModule, Needs, Network, TaskArgs, TaskBase, tasks


TRACE_LENGTH = 16  # tokens per row of the example an export traces


class LMArgs(TaskArgs):
    context: int = Field(128, ge=1, le=65536, description="tokens the model reads; it predicts each one's successor")
    epoch_tokens: Optional[int] = Field(None, ge=1, description="training tokens one epoch covers (default: the "
                                        "train split's count)")
    eval_tokens: Optional[int] = Field(None, ge=2, description="evaluate on the first this many tokens of a split "
                                       "(default: all of it)")


@tasks.register("language_model")
class LanguageModel(TaskBase):
    """Next-token prediction on text: one `model` from token ids to a score per vocabulary entry at every position."""

    Args = LMArgs
    needs = Needs(labels=(None,), infer_from="tokens", tokens=True)
    example = """
task: {name: language_model, context: 16, epoch_tokens: 4096, eval_tokens: 2048}
data: {source: pydoc_topics}
model: [{embedding: {dim: 16}}, {gru: {hidden: 32, return: sequence}}, {linear: auto}]
train: {epochs: 2, batch_size: 32}
"""

    def network_names(self) -> list[str]:
        return ["net"]

    def networks(self, info: Any) -> dict[str, Network]:
        vocab, t = len(info.vocab or []), self.args.context
        return {"net": Network((t,), vocab, out_shape=(t, vocab), about="a score per vocabulary entry at each position")}

    def data_problems(self, info: Any) -> list[tuple[tuple, str]]:
        train = (info.given or {}).get("train", 0) * int(info.input_shape[0])
        if train and self.args.context >= train:
            return [(("context",), f"context {self.args.context} needs more than {self.args.context} train tokens, "
                                   f"but the train split holds {train}: lower it or give more text")]
        return []

    def optimizers(self) -> dict[str, tuple[str, ...]]:
        return {"model": ("net",)}

    def logged(self, split: str, metric_names: list = ()) -> list[str]:
        return ["loss"] if split == "train" else ["loss", "perplexity", "bits_per_char", "unigram_entropy",
                                                   "bigram_entropy"]

    def epoch_samples(self, data: Any) -> int:
        tokens = self.args.epoch_tokens or data.size("train") * int(data.dataset.info.input_shape[0])
        return max(1, tokens // self.args.context)

    def batches(self, data: Any, fit: Any) -> "Windows":
        return Windows(stream(data, "train"), self.args.context, fit)

    # ---------------------------------------------------------------- training and evaluation

    def token_loss(self, net: Any, w: Any, fit: Any, reduction: str = "mean") -> Any:
        """Cross-entropy of each window's next tokens: w is (B, T + 1) ids."""
        from torch.nn import functional as F

        with fit.autocast():
            logits = net(w[:, :-1])
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), w[:, 1:].reshape(-1), reduction=reduction)

    def train_step(self, batch: Any, fit: Any) -> dict:
        loss = self.token_loss(fit.train_nets["net"], batch, fit)
        fit.step(loss)
        return {"loss": loss.detach()}

    def evaluate(self, split: str, fit: Any) -> dict:
        import torch

        ids = stream(fit.data, split)[: self.args.eval_tokens]
        if len(ids) < 2:
            return {}
        net = fit.nets["net"]
        fit.train_mode(False)
        with torch.no_grad():
            nats = sum(self.token_loss(net, w, fit, "sum").double() for w in eval_windows(ids, self.args.context,
                                                                                         fit.eval_batch_size))
        fit.train_mode(True)
        loss = nats.item() / (len(ids) - 1)
        chars = self.chars(fit, split, ids[1:])
        return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "bits_per_char": nats.item() / math.log(2) / chars,
                **self.baselines(fit)}

    def chars(self, fit: Any, split: str, targets: Any) -> int:
        """Characters in the predicted tokens (decoded once per split and run)."""
        key = (split, len(targets))
        cache = self.__dict__.setdefault("_chars", {})
        if key not in cache:
            cache[key] = max(1, len(tokenizer(fit).decode(targets.cpu().numpy())))
        return cache[key]

    def baselines(self, fit: Any) -> dict:
        """The train split's unigram and bigram entropies in bits per character (computed once)."""
        if getattr(self, "_baselines", None) is None:
            ids = stream(fit.data, "train").cpu().numpy()
            per_char = len(ids) / max(1, len(tokenizer(fit).decode(ids)))
            self._baselines = {"unigram_entropy": unigram_entropy(ids) * per_char,
                               "bigram_entropy": bigram_entropy(ids, len(fit.data.dataset.info.vocab)) * per_char}
        return self._baselines

    # ---------------------------------------------------------------- export and generation

    def export_modules(self, fit: Any) -> dict[str, ExportModule]:
        """model.onnx: (B, T) int64 token ids -> (B, T, vocab) next-token scores, T dynamic up to the
        context; traced at a short length, parity-gated there and at the full context."""
        t = self.args.context
        held = stream(fit.data, "test" if fit.data.size("test") else "val" if fit.data.size("val") else "train")
        n = min(t, TRACE_LENGTH, len(held) // 4)  # T is dynamic: a short trace exports recurrent layers in seconds
        x = held[: 4 * n].reshape(4, n) if n else held[:t][None]
        vocab = len(fit.data.dataset.info.vocab)
        meaning = {"scores": "logits",
                   "input": {"shape": [None, None], "dtype": "int64", "meaning": f"token ids, at most {t} per row",
                             "context": t, "tokenizer": fit.data.dataset.extra.get("tokenizer")},
                   "output": {"shape": [None, None, vocab], "meaning": "next-token scores (logits) at each position"}}
        more = [{"input": held[: 2 * t].reshape(2, t).cpu().numpy()}] if n < t and len(held) >= 2 * t else []
        return {"model": ExportModule(fit.model, {"input": x.cpu().numpy()}, ["logits"], meaning, seq_axes=[0],
                                      more_inputs=more)}

    def continue_tokens(self, logits_of: Callable[[np.ndarray], np.ndarray], prompt: list[int], length: int,
                 temperature: float, top_k: Optional[int], seed: int) -> Iterator[int]:
        """`length` new token ids after `prompt`, each drawn from the scores `logits_of` gives for the
        last `context` ids ((1, T) int64 -> (1, T, vocab)), with a numpy generator seeded by `seed`:
        the same for PyTorch and ONNX Runtime as long as their scores agree."""
        rng, ids = np.random.default_rng(seed), list(prompt)
        for _ in range(length):
            window = np.asarray(ids[-self.args.context:], dtype=np.int64)[None]
            scores = np.asarray(logits_of(window), dtype=np.float64)[0, -1]
            token = draw(scores, temperature, top_k, rng)
            ids.append(token)
            yield token


class Windows:
    """`steps` batches of `batch_size` windows of context + 1 tokens at seeded random offsets of
    the train stream; each rank takes its shard of every global batch."""

    def __init__(self, ids: Any, context: int, fit: Any):
        import torch

        self.ids, self.context, self.fit = ids, context, fit
        self.offsets = torch.arange(context + 1, device=ids.device)

    def __len__(self) -> int:
        return self.fit.steps_per_epoch

    def samples(self, i: int) -> int:
        return self.fit.batch_size

    def __iter__(self) -> Iterator[Any]:
        import torch

        f, high = self.fit, len(self.ids) - self.context
        for _ in range(len(self)):
            starts = torch.randint(0, high, (f.batch_size,), generator=f.gen, device=self.ids.device)
            yield self.ids[f.dist.shard(starts)[:, None] + self.offsets]


def stream(data: Any, split: str) -> Any:
    """A split's token ids as one 1-D device tensor, in corpus order."""
    return data.x[split].reshape(-1)


def eval_windows(ids: Any, context: int, batch: int) -> Iterator[Any]:
    """Consecutive (B, T + 1) windows that overlap by one token, so each id after the first is a
    target once; the last window may be shorter."""
    step = min(context, len(ids) - 1)
    full = (len(ids) - 1) // step
    if full:
        starts = np.arange(full) * step
        for i in range(0, full, batch):
            import torch

            at = torch.as_tensor(starts[i:i + batch], device=ids.device)[:, None] + torch.arange(step + 1, device=ids.device)
            yield ids[at]
    if full * step < len(ids) - 1:
        yield ids[full * step:][None]


def tokenizer(fit: Any) -> Any:
    from dlcli.data.tokenize import from_json

    return from_json(fit.data.dataset.extra["tokenizer"])


def unigram_entropy(ids: np.ndarray) -> float:
    """Bits per token of the ids' own unigram distribution."""
    p = np.bincount(ids) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def bigram_entropy(ids: np.ndarray, vocab: int) -> float:
    """H(x_t | x_t-1) in bits per token, from the ids' own bigram counts."""
    pairs = np.bincount(ids[:-1] * vocab + ids[1:], minlength=vocab * vocab).astype(np.float64)
    joint = pairs[pairs > 0] / pairs.sum()
    prev = np.bincount(ids[:-1], minlength=vocab).astype(np.float64)
    marginal = prev[prev > 0] / prev.sum()
    return float(-(joint * np.log2(joint)).sum() + (marginal * np.log2(marginal)).sum())


def draw(scores: np.ndarray, temperature: float, top_k: Optional[int], rng: np.random.Generator) -> int:
    """One id from softmax(scores / temperature) over the top_k highest scores (all when None)."""
    z = scores / temperature
    if top_k is not None and top_k < len(z):
        cut = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cut, z, -np.inf)
    p = np.exp(z - z.max())
    p /= p.sum()
    return int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right").clip(0, len(p) - 1))
