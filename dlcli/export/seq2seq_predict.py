"""`dlcli predict` on a seq2seq run: source strings in, decoded strings out, through ONNX Runtime.

A run directory (or its encoder.onnx, decoder.onnx or, decoder-only, model.onnx) gives the
graphs; their card (dlcli.input "seq2seq") gives the vocabulary, the special ids, how symbols
join into a string and the decoding the run evaluated with, which tasks/decoding.py (numpy, the
code evaluation decodes with) runs over ONNX Runtime's scores. No torch.

INPUT: a text file, one source per line (blank lines skipped), or a .csv/.tsv with a header row
whose source column is the one the run trained on (or its only column).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from dlcli.errors import RunFailed, UsageError
from dlcli.export.predict import first_line, open_session, read_card, predict as predict_values
from dlcli.registry import closest

FILES = ("encoder.onnx", "decoder.onnx")


@dataclass
class Seq2SeqModel:
    path: Path
    sessions: dict  # stem -> onnxruntime.InferenceSession
    meta: dict  # the card's "seq2seq" entry
    recipe: str


def seq2seq_files(model: Path) -> Optional[dict[str, Path]]:
    """stem -> .onnx of a seq2seq export at MODEL (a run directory or one of its files), or None."""
    folder = model if model.is_dir() else model.parent
    pair = {Path(f).stem: folder / f for f in FILES}
    if model.is_dir() or model.name in FILES:
        if all(p.is_file() for p in pair.values()):
            return pair
    single = model / "model.onnx" if model.is_dir() else model
    if single.is_file() and single.suffix == ".onnx":
        card = read_card(open_session(single), single)
        if card is not None and card.task == "seq2seq":
            return {"model": single}
    return None


def load(files: dict[str, Path]) -> Seq2SeqModel:
    sessions, cards = {}, {}
    for stem, path in files.items():
        sessions[stem] = open_session(path)
        cards[stem] = read_card(sessions[stem], path)
        if cards[stem] is None or "seq2seq" not in cards[stem].input:
            raise UsageError(f"{path} has no seq2seq metadata: export the run again with `dlcli export`")
    first = next(iter(files.values()))
    return Seq2SeqModel(first.parent if len(files) > 1 else first, sessions, cards[next(iter(cards))].input["seq2seq"],
                        cards[next(iter(cards))].recipe)


def read_sources(path: Path, column: Optional[str]) -> list[str]:
    """The source strings of INPUT: a csv/tsv's source column, or every non-blank line of text."""
    if not path.is_file():
        raise UsageError(f"input not found: {path}" if not path.exists() else f"{path} is not a file: give a text "
                         "file with one source per line, or a .csv with a header row")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path} is not UTF-8 text (byte {e.start}): save it as UTF-8") from None
    if path.suffix.lower() in (".csv", ".tsv"):
        return csv_sources(path, text, column)
    return [line for line in text.splitlines() if line.strip()]


def csv_sources(path: Path, text: str, column: Optional[str]) -> list[str]:
    rows = list(csv.reader(text.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    if not rows:
        raise UsageError(f"{path} is empty: give a header row and one source per row")
    header = [h.strip() for h in rows[0]]
    if column in header:
        at = header.index(column)
    elif len(header) == 1:
        at = 0
    else:
        near = closest(column, header) if column else []
        hint = f"; did you mean '{near[0]}'?" if near else ""
        want = f"the column '{column}' the run trained on" if column else "one column of sources"
        raise UsageError(f"{path}: expected {want}, found columns {', '.join(header)}{hint}")
    return [row[at] for row in rows[1:] if len(row) > at and row[at] != ""]


def encode(sources: list[str], meta: dict, path: Path) -> tuple[np.ndarray, list[str]]:
    """(N, S) int64 ids right-padded with <pad>, and notes: symbols outside the vocabulary map to
    <unk> when the vocabulary has one; otherwise they are an error naming the line."""
    index = {s: i for i, s in enumerate(meta["vocab"])}
    unk, sep, rows, unseen = meta["special"].get("unk"), meta["separator"], [], set()
    for n, text in enumerate(sources, 1):
        symbols = list(text) if sep == "" else text.split()
        missing = [s for s in symbols if s not in index]
        if missing and unk is None:
            raise UsageError(f"{path}, source {n} ({text!r}): {', '.join(map(repr, missing[:5]))} not in the model's "
                             f"vocabulary ({' '.join(meta['vocab'][3:])})")
        unseen.update(missing)
        rows.append([index.get(s, unk) for s in symbols])
    x = np.full((len(rows), max([len(r) for r in rows] + [1])), meta["special"]["pad"], np.int64)
    for i, r in enumerate(rows):
        x[i, :len(r)] = r
    notes = [f"{len(unseen)} symbol(s) outside the vocabulary read as <unk>: "
             f"{', '.join(map(repr, sorted(unseen)[:10]))}"] if unseen else []
    return x, notes


def run(session: Any, feeds: dict) -> np.ndarray:
    names = [i.name for i in session.get_inputs()]
    try:
        return session.run(None, dict(zip(names, feeds.values())))[0]
    except Exception as e:  # the inputs were built from the card: a failure here is the model's
        raise RunFailed(f"ONNX Runtime failed: {first_line(e)}") from None


def stepper(m: Seq2SeqModel, x: np.ndarray, width: int) -> Any:
    """prefix (R, t) -> (R, vocab) next-token log-probabilities, for x repeated `width` times."""
    from dlcli.tasks.decoding import log_softmax

    x = np.repeat(x, width, axis=0)
    if "model" in m.sessions:
        source = right_aligned(x, m.meta["special"]["pad"])
        return lambda p: log_softmax(run(m.sessions["model"], {"input": np.concatenate([source, p], 1)})[:, -1])
    memory = run(m.sessions["encoder"], {"input": x})
    return lambda p: log_softmax(run(m.sessions["decoder"], {"prefix": p, "memory": memory})[:, -1])


def right_aligned(x: np.ndarray, pad: int) -> np.ndarray:
    n = (x != pad).sum(1, keepdims=True)
    return np.take_along_axis(x, (np.arange(x.shape[1])[None] + n) % x.shape[1], axis=1)


def decode_all(m: Seq2SeqModel, x: np.ndarray, batch_size: int) -> np.ndarray:
    from dlcli.tasks.decoding import decode

    meta = m.meta
    width = meta["beam"] if meta["decode"] == "beam" else 1
    x = np.pad(x, ((0, 0), (0, max(0, meta["source_width"] - x.shape[1]))), constant_values=meta["special"]["pad"])
    steps = max(meta["target_width"], 2 * x.shape[1] + 2)  # room for longer sources than in training
    bs = max(1, batch_size // width)
    out = [decode(stepper(m, x[i:i + bs], width), len(x[i:i + bs]), steps, meta["special"], meta["decode"], width,
                  meta["length_penalty"]) for i in range(0, len(x), bs)]
    return np.concatenate(out)


def strings(ids: np.ndarray, meta: dict) -> list[str]:
    from dlcli.tasks.decoding import until_eos

    sp = meta["special"]
    return [meta["separator"].join(meta["vocab"][t] for t in row) for row in until_eos(ids, sp["eos"], sp["pad"])]


def predict_any(model: Path, input_path: Path, batch_size: int) -> dict:
    """A seq2seq export's decoded strings, or any other model's predictions (export/predict.py)."""
    files = seq2seq_files(Path(model)) if Path(model).exists() else None
    if files:
        return predict_seq2seq(files, input_path, batch_size)
    return predict_values(model, input_path, batch_size)


def predict_seq2seq(files: dict[str, Path], input_path: Path, batch_size: int) -> dict:
    """The whole prediction as one JSON-ready document: each source with its decoded string."""
    m = load(files)
    sources = read_sources(Path(input_path), m.meta.get("source_column"))
    if not sources:
        raise UsageError(f"{input_path} holds no sources: give one per line")
    x, notes = encode(sources, m.meta, Path(input_path))
    outputs = strings(decode_all(m, x, batch_size), m.meta)
    doc = {"model": str(m.path), "task": "seq2seq", "scores": "sequences", "decode": m.meta["decode"],
           "rows": len(sources), "predictions": [{"row": i, "source": s, "output": o}
                                                 for i, (s, o) in enumerate(zip(sources, outputs))]}
    if notes:
        doc["note"] = "; ".join(notes)
    return doc
