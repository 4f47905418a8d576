"""Text sources (text, pydoc_topics, python_stdlib) and their tokenizers (data/text.py, data/tokenize.py)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dlcli.data  # noqa: F401  (fills the registries)
from dlcli.data import partition, text, tokenize
from dlcli.data.base import SourceError, sources
from dlcli.recipe.schema import Split

RECIPE = """
name: t
task: {name: language_model, context: 4}
data: {source: SOURCE, normalize: none}
model: [{embedding: {dim: 4}}, {linear: auto}]
"""
BPE = {"type": "bpe", "vocab": 300}
LINES = "".join(f"line {i:04d}: the quick brown fox jumps over the lazy dog.\n" for i in range(200))


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test trains its own tokenizers: the per-process caches start empty."""
    tokenize._TRAINED.clear()
    text._LAST.clear()
    yield
    tokenize._TRAINED.clear()
    text._LAST.clear()


def load(tmp_path: Path, body: str, split=None, **args):
    (tmp_path / "c.txt").write_text(body, encoding="utf-8")
    src = sources.get("text")()
    return src.load(src.Args(path="c.txt", **args), tmp_path, split=split)


def validate(cli, write, source: str, *sets: str):
    path = write("t.yaml", RECIPE.replace("SOURCE", source))
    return cli("validate", path, *[f"--set={s}" for s in sets])


# ------------------------------------------------------------------------------ splitting


def test_parts_are_contiguous_blocks_in_order(tmp_path):
    data = load(tmp_path, LINES)
    chars, c = data.extra["chars"], data.extra["chunk"]
    assert chars == {"train": 8960, "val": 1120, "test": 1120} and sum(chars.values()) == len(LINES)
    assert c == 256 and data.x.shape == (35 + 4 + 4, 256) and data.x.dtype == np.int64
    assert {p: v.tolist() for p, v in data.given.items()} == {"train": list(range(35)), "val": list(range(35, 39)),
                                                             "test": list(range(39, 43))}
    tok = tokenize.from_json(data.extra["tokenizer"])
    starts = {"train": 0, "val": 8960, "test": 10080}
    for part, rows in data.given.items():  # each part's rows are its text from the start, the partial row dropped
        kept = tok.decode(data.x[rows].ravel())
        assert kept == LINES[starts[part]:starts[part] + len(rows) * c]
    assert data.extra["tokens"] == {"train": 35 * 256, "val": 4 * 256, "test": 4 * 256}


def test_the_recipe_split_sets_the_parts_and_an_empty_part_has_no_rows(tmp_path):
    data = load(tmp_path, LINES, split=Split(train=0.5, val=0.0, test=0.5))
    assert data.extra["chars"] == {"train": 5600, "val": 0, "test": 5600}
    assert data.info.given == {"train": 21, "val": 0, "test": 21} and len(data.given["val"]) == 0


def test_rows_are_as_long_as_the_smallest_part_when_it_is_short(tmp_path):
    data = load(tmp_path, "abcdefghij" * 10)  # parts of 80, 10, 10 characters
    assert data.extra["chunk"] == 10 and data.info.input_shape == (10,)
    assert data.info.given == {"train": 8, "val": 1, "test": 1} and data.info.samples == 10


def test_partition_hands_back_the_source_parts_and_refuses_hash_and_given(tmp_path):
    data = load(tmp_path, LINES)
    got = partition.make(Split(), data, None, seed=3)
    assert {p: v.tolist() for p, v in got.items()} == {p: v.tolist() for p, v in data.given.items()}
    assert partition.problems(Split(), data.info, None, 0) == []
    for split, said in ((Split(method="hash"), "`method: hash`"), (Split(method="given"), "`split: given`")):
        (found,) = partition.problems(split, data.info, None, 0)
        assert found[0] == ("method",) and said in found[1] and "contiguous blocks" in found[1]
        with pytest.raises(SourceError, match="no window spans two parts"):
            partition.make(split, data, None, 0)


# ----------------------------------------------------------------------------- tokenizers


def test_the_vocabulary_comes_from_the_train_part_only(tmp_path):
    body = "abcab" * 100 + "zz€"  # z and € appear only at the end: in the test part
    data = load(tmp_path, body)
    assert data.info.vocab == ["<unk>", "a", "b", "c"]
    assert data.extra["unseen"] == {"train": 0, "val": 0, "test": 3}
    tok = tokenize.from_json(data.extra["tokenizer"])
    assert tok.encode("zab€").tolist() == [0, 1, 2, 0]
    assert data.x[data.given["test"]].ravel()[-3:].tolist() == [0, 0, 0]


def test_char_ids_follow_code_points_and_round_trip():
    tok = tokenize.CharTokenizer.train("hé llo\n☃")
    assert tok.vocab == ["<unk>", "\n", " ", "h", "l", "o", "é", "☃"]
    sample = "hollo ☃\né"
    assert tok.encode(sample).dtype == np.int64 and tok.decode(tok.encode(sample)) == sample
    assert tok.unseen(tok.encode("x☃y")) == 2
    again = tokenize.from_json(tok.to_json())
    assert again.vocab == tok.vocab and again.encode(sample).tolist() == tok.encode(sample).tolist()


def test_bpe_round_trips_any_text_and_its_record():
    pytest.importorskip("tokenizers")
    tok = tokenize.trained("bpe", LINES, 300)
    assert len(tok.vocab) == 300 and tok.unseen(tok.encode("x")) == 0
    for sample in (LINES[:500], "héllo ☃ 日本\t\r\n  spaces  ", ""):
        assert tok.decode(tok.encode(sample)) == sample
    assert len(tok.encode(LINES)) < len(LINES) / 3  # merges learned: far fewer tokens than characters
    again = tokenize.from_json(tok.to_json())
    assert again.vocab == tok.vocab and again.encode(LINES).tolist() == tok.encode(LINES).tolist()


def test_bpe_training_is_deterministic():
    pytest.importorskip("tokenizers")
    first = tokenize.trained("bpe", LINES, 300).to_json()
    tokenize._TRAINED.clear()
    assert tokenize.trained("bpe", LINES, 300).to_json() == first


def test_a_tokenizer_is_trained_once_per_text_and_arguments(tmp_path, monkeypatch):
    pytest.importorskip("tokenizers")
    calls = []
    real = tokenize.BPETokenizer.train.__func__
    monkeypatch.setattr(tokenize.BPETokenizer, "train", classmethod(lambda cls, *a: calls.append(a) or real(cls, *a)))
    (tmp_path / "c.txt").write_text(LINES)
    src = sources.get("text")()
    args = src.Args(path="c.txt", tokenizer=BPE)
    info = src.info(args, tmp_path)
    text._LAST.clear()  # as if another recipe had been encoded in between
    assert src.load(args, tmp_path).info == info and len(calls) == 1
    tokenize.trained("bpe", LINES[:100], 300)
    tokenize.trained("bpe", LINES[:100], 301)
    assert len(calls) == 3


def test_a_bpe_source_yields_bpe_rows(tmp_path):
    pytest.importorskip("tokenizers")
    data = load(tmp_path, LINES, tokenizer=BPE)
    assert len(data.info.vocab) == 300 and data.extra["unseen"] == {"train": 0, "val": 0, "test": 0}
    assert json.loads(data.extra["tokenizer"])["type"] == "bpe"
    tok = tokenize.from_json(data.extra["tokenizer"])
    assert tok.decode(data.x[data.given["val"]].ravel()) in LINES[8960:10080]


@pytest.mark.parametrize("spec, said", [({"type": "char", "vocab": 300}, "leave out vocab"),
                                        ({"type": "bpe", "vocab": 100}, "greater than or equal to 256"),
                                        ("wordpiece", "'char' or 'bpe'")])
def test_bad_tokenizer_arguments(spec, said):
    with pytest.raises(ValueError, match=said):
        sources.get("text").Args(path="c.txt", tokenizer=spec)


def test_tokenizer_names_alone():
    args = sources.get("text").Args(path="c.txt", tokenizer="bpe")
    assert args.tokenizer.type == "bpe" and args.tokenizer.vocab is None
    assert sources.get("text").Args(path="c.txt").tokenizer.type == "char"


# ---------------------------------------------------------------------- validate and train


@pytest.mark.parametrize("name, args", [("text", None), ("pydoc_topics", {}),
                                        ("python_stdlib", {"max_chars": 200_000})])
def test_info_is_loads_info(name, args, tmp_path):
    if args is None:
        (tmp_path / "c.txt").write_text(LINES)
        args = {"path": "c.txt"}
    src = sources.get(name)()
    a = src.Args(**args)
    split = Split(train=0.7, val=0.2, test=0.1)
    info = src.info(a, tmp_path, split=split)
    text._LAST.clear()
    data = src.load(a, tmp_path, split=split)
    assert data.info == info and info.contiguous and info.labels is None and info.layout == "sequence"
    assert data.y.shape == (len(data.x), 0) and info.samples == len(data.x) == sum(info.given.values())


def test_validate_and_training_read_the_recipe_split(write):
    from dlcli.engine.tensors import load_dataset
    from dlcli.recipe.check import load_recipe

    path = write("t.yaml", RECIPE.replace("SOURCE", "{type: text, path: c.txt}")
                 .replace("normalize: none", "normalize: none, split: {train: 0.6, val: 0.3, test: 0.1}"))
    (path.parent / "c.txt").write_text(LINES)
    resolved = load_recipe(path)
    assert resolved.info.given == {"train": 26, "val": 13, "test": 4}
    text._LAST.clear()
    assert load_dataset(resolved).info == resolved.info


def test_validate_accepts_a_text_recipe(cli, write):
    (write("c.txt", LINES)).touch()
    r = validate(cli, write, "{type: text, path: c.txt}")
    assert r.code == 0, r.err
    assert "input (4,) -> output (4, " in r.out  # windows of the task's context, a score per token


def test_validate_refuses_a_hash_split(cli, write):
    write("c.txt", LINES)
    r = validate(cli, write, "{type: text, path: c.txt}", "data.split.method=hash")
    assert r.code == 2 and "data.split.method: `method: hash` cannot split this data" in r.err


# ------------------------------------------------------------------------------ bad input


def test_a_missing_path(cli, write, tmp_path):
    r = validate(cli, write, "{type: text, path: nothere.txt}")
    assert r.code == 2 and f"data.source.path: file or folder not found: {tmp_path / 'nothere.txt'}" in r.err


def test_a_folder_whose_glob_matches_nothing(cli, write, tmp_path):
    (tmp_path / "corpus").mkdir()
    write("corpus/a.md", "some text")
    r = validate(cli, write, "{type: text, path: corpus}")
    assert r.code == 2
    assert f"data.source.glob: no file in {tmp_path / 'corpus'} matches glob '*.txt'; its files end in .md" in r.err


def test_an_empty_corpus(cli, write, tmp_path):
    (tmp_path / "corpus").mkdir()
    write("corpus/a.txt", "")
    write("corpus/b.txt", "")
    r = validate(cli, write, "{type: text, path: corpus}")
    assert r.code == 2 and f"data.source.path: {tmp_path / 'corpus'} holds no text: the corpus is empty" in r.err


def test_a_file_that_is_not_utf8(cli, write, tmp_path):
    (tmp_path / "corpus").mkdir()
    write("corpus/a.txt", "fine text\n")
    (tmp_path / "corpus" / "b.txt").write_bytes("café".encode("utf-8") + b" na\xefve")
    r = validate(cli, write, "{type: text, path: corpus}")
    assert r.code == 2
    assert f"data.source.path: {tmp_path / 'corpus' / 'b.txt'} is not UTF-8 text: byte 8 (0xef)" in r.err


def test_a_part_too_small(cli, write):
    write("c.txt", "abcdefghijklmnopqrst")  # 20 characters: val and test get 2 each, 1 with val 0.05
    assert validate(cli, write, "{type: text, path: c.txt}").code == 0
    r = validate(cli, write, "{type: text, path: c.txt}", "data.split.val=0.05", "data.split.train=0.85")
    assert r.code == 2
    assert "the val part (data.split.val: 0.05) holds 1 token(s) (1 of the 20 characters); each part needs at least 2" \
        in r.err


def test_bpe_without_the_tokenizers_package(cli, write, monkeypatch):
    write("c.txt", LINES)
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import tokenizers now raises ImportError
    r = validate(cli, write, "{type: text, path: c.txt, tokenizer: {type: bpe, vocab: 300}}")
    assert r.code == 2
    assert "data.source.tokenizer: the bpe tokenizer needs the `tokenizers` package: pip install 'dlcli[text]'" in r.err


def test_a_glob_reads_subfolders_in_sorted_order(tmp_path):
    for name, body in (("b/2.md", "two"), ("a.md", "one"), ("b/1.md", "three"), ("skip.txt", "no")):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body * 10)
    src = sources.get("text")()
    data = src.load(src.Args(path=".", glob="**/*.md"), tmp_path)
    assert data.extra["files"] == ["a.md", "b/1.md", "b/2.md"]
    assert sum(data.extra["chars"].values()) == len("one" * 10 + "\n" + "three" * 10 + "\n" + "two" * 10)


# ------------------------------------------------------------------------------- builtins


def test_pydoc_topics_is_pythons_help_text():
    from pydoc_data.topics import topics

    src = sources.get("pydoc_topics")()
    data = src.load(src.Args(), None)
    assert sum(data.extra["chars"].values()) == len("\n\n".join(topics[k] for k in sorted(topics))) > 400_000
    assert data.extra["chunk"] == 256 and data.extra["unseen"]["train"] == 0
    assert tokenize.from_json(data.extra["tokenizer"]).decode(data.x[0]).startswith('The "assert" statement')


def test_pydoc_topics_info_is_fast():
    src = sources.get("pydoc_topics")()
    src.info(src.Args(), None)  # the first call pays for importing pydoc_data
    best = 1e9
    for _ in range(3):
        tokenize._TRAINED.clear()
        text._LAST.clear()
        started = time.perf_counter()
        src.info(src.Args(), None)
        best = min(best, time.perf_counter() - started)
    assert best < 0.3


def test_python_stdlib_keeps_the_first_sorted_files_within_max_chars():
    src = sources.get("python_stdlib")()
    data = src.load(src.Args(max_chars=300_000), None)
    files, total = data.extra["files"], sum(data.extra["chars"].values())
    assert files == sorted(files) and len(files) > 3 and all(f.endswith(".py") for f in files)
    assert not any(part in ("test", "tests", "idlelib", "site-packages") for f in files for part in f.split("/"))
    assert 50_000 < total <= 300_000
    root = Path(text.sysconfig.get_paths()["stdlib"])
    assert total == len("\n".join((root / f).read_text(encoding="utf-8") for f in files))
    nxt = text.stdlib_files(root)[len(files)]
    assert total + 1 + len((root / nxt).read_text(encoding="utf-8")) > 300_000  # the next file would not fit


def test_python_stdlib_default_is_a_couple_of_million_characters_and_quick():
    src = sources.get("python_stdlib")()
    started = time.perf_counter()
    data = src.load(src.Args(), None)
    assert time.perf_counter() - started < 2.0
    assert 1_500_000 < sum(data.extra["chars"].values()) <= 2_000_000


def test_python_stdlib_max_chars_below_the_first_file():
    src = sources.get("python_stdlib")()
    with pytest.raises(SourceError, match="max_chars 5 keeps no file") as e:
        src.load(src.Args(max_chars=5), None)
    assert e.value.key == "max_chars"
