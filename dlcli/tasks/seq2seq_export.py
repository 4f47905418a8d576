"""What a seq2seq run exports and draws.

Encoder-decoder: encoder.onnx, (B, S) int64 source ids -> (B, S, E) states; decoder.onnx, the
target so far (B, T) int64 (<bos> first) and those states -> (B, T, vocab) next-token scores.
Decoder-only: model.onnx, the right-aligned source, <bos> and the target so far (B, S + T) ->
(B, S + T, vocab). Every sequence axis is dynamic; the parity gate runs at the training length
and at the longest test length. Each file's card says how to encode a source and decode, so
`dlcli predict` needs nothing else (dlcli/export/seq2seq_predict.py).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.tasks.base import ExportModule
from dlcli.tasks.seq2seq_data import SPECIAL, length_groups, right_aligned


def card(task: Any, fit: Any) -> dict:
    """What predict needs: the vocabulary and its special ids, how symbols join into a string,
    the decoding the run evaluates with, and the widths it trained at."""
    ds, a = fit.data.dataset, task.args
    vocab = list(ds.info.vocab)
    symbols = vocab[len(SPECIAL):]
    separator = ds.extra.get("separator", "" if all(len(s) == 1 for s in symbols) else " ")
    special = {**SPECIAL, **({"unk": int(ds.extra["unk"])} if "unk" in ds.extra else {})}
    s, t = task.widths(fit, "train")
    return {"vocab": vocab, "special": special, "separator": separator, "decode": a.decode, "beam": a.beam,
            "length_penalty": a.length_penalty, "decoder_only": a.decoder_only, "source_width": s,
            "target_width": int(ds.info.targets or t), "source_column": ds.extra.get("source")}


def examples(task: Any, fit: Any) -> list[tuple[Any, Any]]:
    """(sources, targets) of 4 held-out samples of the shortest and of the longest length, at the
    widths evaluation uses."""
    split = next(k for k in ("test", "val", "train") if fit.data.size(k))
    groups = length_groups(fit, split)
    picked = [groups[0], groups[-1]] if len(groups) > 1 else groups[:1]
    return [task.group_inputs(fit, split, idx[:4]) for _, idx in picked]


def prefix(y: Any) -> Any:
    import torch

    return torch.cat([torch.full_like(y[:, :1], SPECIAL["bos"]), y[:, :-1]], 1)


def export_modules(task: Any, fit: Any) -> dict[str, ExportModule]:
    import torch

    from dlcli.nn._seq2seq_modules import Attending

    info, nets, meta = fit.data.dataset.info, fit.nets, card(task, fit)
    vocab = len(info.vocab)
    pairs = examples(task, fit)
    scores = {"shape": [None, None, vocab], "meaning": "next-token scores (logits) at each position"}
    if task.args.decoder_only:
        rows = [{"input": torch.cat([right_aligned(x), prefix(y)], 1).numpy()} for x, y in pairs]
        meaning = {"scores": "logits", "output": scores, "input": {
            "shape": [None, None], "dtype": "int64", "meaning": "the source right-aligned after <pad>s, then <bos> "
            "and the target so far", "seq2seq": meta}}
        return {"model": ExportModule(nets["net"], rows[0], ["logits"], meaning, seq_axes=[0], more_inputs=rows[1:])}
    with torch.no_grad():
        states = [nets["encoder"](x) for x, _ in pairs]
    width = int(states[0].shape[-1])
    encoder = {"scores": "memory", "input": {"shape": [None, None], "dtype": "int64", "meaning": "source token "
               "ids, right-padded with <pad>", "seq2seq": meta},
               "output": {"shape": [None, None, width], "meaning": "the encoder's state at each source position"}}
    decoder = {"scores": "logits", "output": scores, "input": {
        "shape": [None, None], "dtype": "int64", "meaning": "the target so far, <bos> first; the second input is "
        "encoder.onnx's output", "seq2seq": meta}}
    sources = [{"input": x.numpy()} for x, _ in pairs]
    steps = [{"prefix": prefix(y).numpy(), "memory": np.ascontiguousarray(m.numpy())} for (_, y), m in zip(pairs, states)]
    return {"encoder": ExportModule(nets["encoder"], sources[0], ["memory"], encoder, seq_axes=[0],
                                    more_inputs=sources[1:]),
            "decoder": ExportModule(Attending(nets["decoder"]).train(False), steps[0], ["logits"], decoder, seq_axes=[[0], [0]],
                                    more_inputs=steps[1:])}


def attention_pictures(task: Any, fit: Any, folder: Any) -> list:
    """plots/attention.png: the last attention layer's weights while decoding a few test samples
    of lengths spread over the test split (encoder-decoder runs)."""
    import torch

    from dlcli.nn._seq2seq_modules import attending, keep_attention
    from dlcli.report import plots

    n, split = task.args.attention_maps, "test" if fit.data.size("test") else "val"
    if task.args.decoder_only or not n or not fit.data.size(split):
        return []
    groups = length_groups(fit, split)
    chosen = [groups[i] for i in sorted({round(k * (len(groups) - 1) / max(1, n - 1)) for k in range(n)})]
    vocab, maps = fit.data.dataset.info.vocab, []
    fit.train_mode(False)
    try:
        with torch.no_grad():
            for _, idx in chosen[:n]:
                x, y = task.group_inputs(fit, split, idx[:1])
                out = task.decode(fit.nets, x, y.shape[1], fit)[0]
                out = out[: int(np.argmax(out == SPECIAL["eos"])) + 1] if (out == SPECIAL["eos"]).any() else out
                decoder = fit.nets["decoder"]
                readers = keep_attention(decoder, True)
                with attending(decoder, fit.nets["encoder"](x)):
                    decoder(prefix(torch.as_tensor(out[None], device=x.device)))
                weights = readers[-1].weights[0].float().cpu().numpy()
                source = x[0].tolist()  # <pad> columns too: where the weight on them goes is part of the picture
                maps.append({"weights": weights, "source": [vocab[i] for i in source],
                             "output": [vocab[i] for i in out.tolist()]})
    finally:
        keep_attention(fit.nets["decoder"], False)
        fit.train_mode(True)
    return plots.attention_maps(maps, folder)
