"""Sequence to sequence: map a source token sequence to a target one (copy, reverse, sort, add, csv
string pairs), trained with teacher forcing, evaluated by decoding.

Two forms. Encoder-decoder (`models: {encoder, decoder}`): the encoder maps the source ids (S,)
to states (S, E); the decoder reads the target so far, <bos> first, and scores the next token at
each position (T, vocab), attending over the encoder's states through its cross_attention or
transformer_decoder layers. Decoder-only (`task: {decoder_only: true}`, one `model`): one causal
network reads the source (right-aligned, <pad> before it), then <bos> and the target so far, and
scores the target tokens at the positions after the source, as minGPT's adder does; it suits an
LSTM or a neural Turing machine. In both the decoder must not see later positions: teacher
forcing hands it the whole target at once, and a layer that looks ahead is refused at validate.

Training batches keep the first S_train source columns and T_train target columns (the longest
in the train split). Evaluation goes length by length (the source's length for the synthetic
sources, its character count for csv pairs): the teacher-forced loss, then decoding (greedy, or
beam search) of at most `eval_samples` samples of each length, scored by token accuracy and
exact-match sequence accuracy; `per_length` lists the figures of each length, longer-than-trained
ones flagged, so generalisation to longer inputs can be read off the test split.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

import numpy as np
from pydantic import Field

from dlcli.tasks.base import ExportModule, Needs, Network, TaskArgs, TaskBase, tasks
from dlcli.tasks.seq2seq_data import PAD, SPECIAL, length_groups, right_aligned, used_columns

# Layers that let position t see later positions: teacher forcing would hand a decoder the answer.
CAUSAL_FLAG = {"attention": "causal", "transformer_encoder": "causal", "rnn": "bidirectional",
               "lstm": "bidirectional", "gru": "bidirectional"}  # the argument that keeps the layer causal
MIXES_POSITIONS = {"conv1d", "conv2d", "avgpool", "maxpool", "global_avgpool", "flatten", "reshape"}


class Seq2SeqArgs(TaskArgs):
    decoder_only: bool = Field(False, description="one causal network (`model`) reads the source, <bos> and the "
                               "target so far (minGPT's adder); default: models encoder and decoder")
    decode: Literal["greedy", "beam"] = Field("greedy", description="how evaluation and `dlcli predict` decode")
    beam: int = Field(4, ge=1, le=64, description="beams per sequence with decode: beam")
    length_penalty: float = Field(0.6, ge=0.0, le=5.0, description="beam search ranks beams by log-probability "
                                  "/ ((5 + length) / 6) ** this (Wu et al. 2016; 0: no normalisation)")
    eval_samples: Optional[int] = Field(None, ge=1, description="decode at most this many samples of each length "
                                        "of a split (default: all; the loss always covers all)")
    attention_maps: int = Field(4, ge=0, le=16, description="test samples whose attention weights go to "
                                "plots/attention.png (encoder-decoder)")


@tasks.register("seq2seq")
class Seq2Seq(TaskBase):
    """Sequence to sequence with teacher forcing: an encoder and an attending decoder, or one causal decoder-only network."""

    Args = Seq2SeqArgs
    needs = Needs(labels=("sequences",), infer_from="sequences")
    example = """
task: {name: seq2seq, eval_samples: 16}
data: {source: {type: reverse, samples: 300, vocab: 6, max_len: 4, longer: 8}}
models:
  encoder: [{embedding: {dim: 8}}, {gru: {hidden: 16, return: sequence}}]
  decoder: [{embedding: {dim: 8}}, {gru: {hidden: 16, return: sequence}}, {cross_attention: additive}, {linear: auto}]
train: {epochs: 2, batch_size: 32}
"""

    def network_names(self) -> list[str]:
        return ["net"] if self.args.decoder_only else ["encoder", "decoder"]

    def networks(self, info: Any) -> dict[str, Network]:
        s, t, vocab = int(info.input_shape[0]), int(info.targets or 1), len(info.vocab or [])
        if self.args.decoder_only:
            return {"net": Network((s + t,), vocab, out_shape=(s + t, vocab), about="a score per vocabulary entry "
                                   "at each position of the source, <bos> and the target")}
        return {"encoder": Network((s,), None, about="source token ids -> a state per source position"),
                "decoder": Network((t,), vocab, out_shape=(t, vocab), about="a score per vocabulary entry at each "
                                   "target position", memory="encoder")}

    def plan_problems(self, plans: dict) -> list[tuple[tuple, str]]:
        from dlcli.nn.cross_attention import READS_MEMORY
        from dlcli.nn.model import all_nodes

        decoder = plans.get("decoder") or plans["net"]
        found = [(node.path + (node.name,), message) for node, message in look_ahead(decoder.nodes)]
        if "decoder" in plans and not any(n.name in READS_MEMORY for n in all_nodes(decoder.nodes)):
            found.append((("models", "decoder"), "the decoder never reads the encoder's states: add a `cross_attention` (after a "
                                 "recurrent layer) or a `transformer_decoder`"))
        return found

    def optimizers(self) -> dict[str, tuple[str, ...]]:
        return {"model": tuple(self.network_names())}

    def logged(self, split: str, metric_names: list = ()) -> list[str]:
        return ["loss"] if split == "train" else ["loss", "token_accuracy", "sequence_accuracy"]

    def targets(self, y: Any, labels: Optional[str], device: Any) -> Any:
        import torch

        return torch.as_tensor(y, dtype=torch.long, device=device)

    # ---------------------------------------------------------------- training

    def widths(self, fit: Any, split: str) -> tuple[int, int]:
        """(source, target) columns a split uses: its longest source and target (with <eos>)."""
        cache = self.__dict__.setdefault("_widths", {})
        if split not in cache:
            x, y = fit.data.x[split], fit.data.y[split]
            cache[split] = used_columns(x), used_columns(y)
        return cache[split]

    def logits(self, nets: dict, x: Any, prefix: Any, fit: Any) -> Any:
        """(B, T, vocab) next-token scores after each prefix position, for sources x (B, S)."""
        import torch

        from dlcli.nn._seq2seq_modules import attending

        with fit.autocast():
            if self.args.decoder_only:
                return nets["net"](torch.cat([right_aligned(x), prefix], 1))[:, x.shape[1]:]
            with attending(nets["decoder"], nets["encoder"](x)) as decoder:
                return decoder(prefix)

    def token_loss(self, nets: dict, x: Any, y: Any, fit: Any, reduction: str = "mean") -> Any:
        """Cross-entropy of each target token given the source and the target before it (teacher forcing)."""
        import torch
        from torch.nn import functional as F

        prefix = torch.cat([torch.full_like(y[:, :1], SPECIAL["bos"]), y[:, :-1]], 1)
        z = self.logits(nets, x, prefix, fit).float()
        return F.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1), ignore_index=PAD, reduction=reduction)

    def train_step(self, batch: Any, fit: Any) -> dict:
        x, y = batch
        s, t = self.widths(fit, "train")
        loss = self.token_loss(fit.train_nets, x[:, :s], y[:, :t], fit)
        fit.step(loss)
        return {"loss": loss.detach()}

    # ---------------------------------------------------------------- evaluation

    def evaluate(self, split: str, fit: Any) -> dict:
        import torch

        if not fit.data.size(split):
            return {}
        fit.train_mode(False)
        with torch.no_grad():
            rows = [self.length_figures(fit, split, length, idx) for length, idx in length_groups(fit, split)]
        fit.train_mode(True)
        nats, tokens = sum(r.pop("nats") for r in rows), sum(r.pop("tokens") for r in rows)
        right, total = sum(r.pop("right") for r in rows), sum(r.pop("total") for r in rows)
        exact, decoded = sum(r.pop("exact") for r in rows), sum(r["decoded"] for r in rows)
        return {"loss": nats / max(1, tokens), "token_accuracy": right / max(1, total),
                "sequence_accuracy": exact / max(1, decoded), "per_length": rows}

    def group_inputs(self, fit: Any, split: str, idx: Any) -> tuple[Any, Any]:
        """A length group's sources and targets, sources at least as wide as in training."""
        x, y = fit.data.x[split][idx], fit.data.y[split][idx]
        s = max(used_columns(x), self.widths(fit, "train")[0])
        return x[:, :s], y[:, :used_columns(y)]

    def length_figures(self, fit: Any, split: str, length: int, idx: Any) -> dict:
        """One length's loss sums and decoding scores."""
        from dlcli.tasks.decoding import scores

        x, y = self.group_inputs(fit, split, idx)
        bs = fit.eval_batch_size
        nats = sum(self.token_loss(fit.nets, x[i:i + bs], y[i:i + bs], fit, "sum").item() for i in range(0, len(x), bs))
        m = len(x) if self.args.eval_samples is None else min(len(x), self.args.eval_samples)
        decoded = self.decode(fit.nets, x[:m], y.shape[1], fit)
        right, total = scores(decoded, y[:m].cpu().numpy(), PAD)
        trained = fit.data.dataset.extra.get("train_max_len")
        return {"length": length, "samples": len(x), "decoded": m, "beyond_training": trained is not None and length > trained,
                "token_accuracy": float(right.sum() / max(1, total.sum())), "sequence_accuracy": float((right == total).mean()),
                "nats": nats, "tokens": int((y != PAD).sum()), "right": int(right.sum()), "total": int(total.sum()),
                "exact": int((right == total).sum())}

    def decode(self, nets: dict, x: Any, steps: int, fit: Any) -> np.ndarray:
        """(B, steps) decoded ids for sources x (B, S), batch by batch."""
        from dlcli.tasks.decoding import decode

        a = self.args
        width = a.beam if a.decode == "beam" else 1
        bs = max(1, fit.eval_batch_size // width)
        parts = [decode(self.stepper(nets, x[i:i + bs], width, fit), len(x[i:i + bs]), steps, SPECIAL, a.decode,
                        width, a.length_penalty) for i in range(0, len(x), bs)]
        return np.concatenate(parts) if parts else np.zeros((0, steps), np.int64)

    def stepper(self, nets: dict, x: Any, width: int, fit: Any) -> Any:
        """prefix (R, t) numpy -> (R, vocab) log-probabilities of the next token, for x repeated `width` times."""
        import torch

        from dlcli.nn._seq2seq_modules import attending

        x = x.repeat_interleave(width, 0) if width > 1 else x
        source = right_aligned(x) if self.args.decoder_only else None
        memory = None if self.args.decoder_only else nets["encoder"](x)

        def step(prefix: np.ndarray) -> np.ndarray:
            p = torch.as_tensor(prefix, device=x.device)
            with fit.autocast():
                if source is not None:
                    z = nets["net"](torch.cat([source, p], 1))[:, -1]
                else:
                    with attending(nets["decoder"], memory) as decoder:
                        z = decoder(p)[:, -1]
            return torch.log_softmax(z.float(), -1).cpu().numpy()

        return step

    # ---------------------------------------------------------------- export and pictures

    def export_modules(self, fit: Any) -> dict[str, ExportModule]:
        from dlcli.tasks.seq2seq_export import export_modules

        return export_modules(self, fit)

    def pictures(self, fit: Any, folder: Any) -> list:
        from dlcli.tasks.seq2seq_export import attention_pictures

        return attention_pictures(self, fit, folder)


def look_ahead(nodes: list) -> list[tuple[Any, str]]:
    """(node, message) for each layer that lets a position see later ones."""
    from dlcli.nn.model import all_nodes

    found = []
    for node in all_nodes(nodes):
        fix = "use layers that keep each position to itself and the ones before it"
        if node.name in CAUSAL_FLAG:
            flag = CAUSAL_FLAG[node.name]
            if getattr(node.args, flag) == (flag == "causal"):
                continue
            fix = f"set {flag}: {str(flag == 'causal').lower()}"
        elif node.name not in MIXES_POSITIONS:
            continue
        found.append((node, f"`{node.name}` lets each position see later ones, and teacher forcing hands the decoder "
                            f"the whole target at once: it would read the answer; {fix}"))
    return found
