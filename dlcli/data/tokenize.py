"""Tokenizers of text data: characters, or byte-level BPE (the `tokenizers` package), trained on
the train split's text only.

One small protocol, shared by the text sources and by sampling: `vocab` (the token strings,
index = token id), `encode(text)` -> int64 ids, `decode(ids)` -> text, `unseen(ids)` (how many
characters encoded as <unk>), `to_json()`; `from_json` rebuilds a tokenizer from a run's record.
`trained` trains one at most once per process for the same text and arguments, so `validate`
and then `train` in one process share it.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Optional, Protocol

import numpy as np

from dlcli.data.base import SourceError

UNK = "<unk>"
MISSING = "the bpe tokenizer needs the `tokenizers` package: pip install 'dlcli[text]'"


class Tokenizer(Protocol):
    vocab: list[str]

    def encode(self, text: str) -> np.ndarray: ...

    def decode(self, ids: Any) -> str: ...

    def unseen(self, ids: np.ndarray) -> int: ...

    def to_json(self) -> str: ...


def code_points(text: str) -> np.ndarray:
    """The text's characters as uint32 code points, without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


class CharTokenizer:
    """One token per character: id 0 is <unk>, then the vocabulary's characters by code point."""

    def __init__(self, chars: list[str]):
        self.vocab = [UNK] + list(chars)
        self._points = np.array([ord(c) for c in chars], dtype=np.uint32)  # sorted: searchsorted finds ids
        self._strings = np.array(self.vocab, dtype=object)

    @classmethod
    def train(cls, text: str) -> "CharTokenizer":
        return cls([chr(p) for p in np.unique(code_points(text)).tolist()])

    def encode(self, text: str) -> np.ndarray:
        points = code_points(text)
        if not len(self._points):
            return np.zeros(len(points), dtype=np.int64)
        at = np.minimum(np.searchsorted(self._points, points), len(self._points) - 1)
        return np.where(self._points[at] == points, at + 1, 0).astype(np.int64)

    def decode(self, ids: Any) -> str:
        return "".join(self._strings[np.asarray(ids, dtype=np.int64)])

    def unseen(self, ids: np.ndarray) -> int:
        return int(np.count_nonzero(np.asarray(ids) == 0))

    def to_json(self) -> str:
        return json.dumps({"type": "char", "chars": self.vocab[1:]}, ensure_ascii=False)


class BPETokenizer:
    """Byte-level BPE: every byte is in the vocabulary, so no character is ever unseen."""

    def __init__(self, tok: Any):
        self._tok = tok
        self.vocab = [tok.id_to_token(i) for i in range(tok.get_vocab_size())]

    @classmethod
    def train(cls, text: str, vocab: int) -> "BPETokenizer":
        tokenizers = bpe_package()
        from tokenizers import decoders, models, pre_tokenizers, trainers

        tok = tokenizers.Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tok.train_from_iterator([text], trainer=trainer)
        return cls(tok)

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tok.encode(text).ids, dtype=np.int64)

    def decode(self, ids: Any) -> str:
        return self._tok.decode(np.asarray(ids, dtype=np.int64).tolist())

    def unseen(self, ids: np.ndarray) -> int:
        return 0

    def to_json(self) -> str:
        return json.dumps({"type": "bpe", "tokenizer": json.loads(self._tok.to_str())})


def bpe_package() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise SourceError(MISSING, "tokenizer") from None
    return tokenizers


def from_json(s: str) -> Tokenizer:
    """The tokenizer that `to_json` wrote."""
    doc = json.loads(s)
    if doc.get("type") == "char":
        return CharTokenizer(doc["chars"])
    if doc.get("type") == "bpe":
        return BPETokenizer(bpe_package().Tokenizer.from_str(json.dumps(doc["tokenizer"])))
    raise ValueError(f"not a dlcli tokenizer: type {doc.get('type')!r}; expected char or bpe")


_TRAINED: dict[str, Tokenizer] = {}


def trained(kind: str, text: str, vocab: Optional[int] = None) -> Tokenizer:
    """A `kind` tokenizer ("char" or "bpe", with `vocab` tokens) trained on `text`, once per
    process for the same text and arguments."""
    key = hashlib.sha256(json.dumps([kind, vocab]).encode() + text.encode("utf-8", "surrogatepass")).hexdigest()
    if key not in _TRAINED:
        _TRAINED[key] = CharTokenizer.train(text) if kind == "char" else BPETokenizer.train(text, vocab or 2000)
    return _TRAINED[key]
