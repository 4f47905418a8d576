"""Algorithmic sequence sources: copy, reverse, sort, add and parens (data/sequences.py)."""
from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pytest
from pydantic import ValidationError

import dlcli.data  # noqa: F401  (fills the registries)
from dlcli.data import partition
from dlcli.data.base import sources
from dlcli.recipe.schema import Split
from dlcli.tasks.base import Needs

SEQ2SEQ = ["copy", "reverse", "sort", "add"]
KINDS = SEQ2SEQ + ["parens"]
RECIPE = """
name: parens
task: classification
data: {source: {type: parens, samples: 400}, normalize: none}
model: [{embedding: {dim: 8}}, {lstm: {hidden: 16}}, {linear: auto}]
train: {epochs: 1, batch_size: 32}
"""


def load(name: str, split=None, **args):
    src = sources.get(name)()
    return src.load(src.Args(**args), None, split=split)


def decoded(data, row: int, y: bool = False) -> list[str]:
    """A row's tokens as strings, padding left out (plain Python, for checking by hand)."""
    ids = (data.y if y else data.x)[row].tolist()
    return [data.info.vocab[i] for i in ids if i != 0]


def is_balanced(s: str) -> bool:
    depth = 0
    for c in s:
        depth += 1 if c == "(" else -1
        if depth < 0:
            return False
    return depth == 0


def checked_rows(data) -> list[int]:
    """Some rows of every part: the first and last in-distribution ones and some longer ones."""
    n = len(data.x)
    return list(range(20)) + list(range(n - 20, n)) + np.random.default_rng(0).choice(n, 40).tolist()


# ------------------------------------------------------------------------------- targets


@pytest.mark.parametrize("name, rule", [("copy", lambda s, v: s), ("reverse", lambda s, v: s[::-1]),
                                        ("sort", lambda s, v: sorted(s, key=v.index))])
def test_symbol_targets(name, rule):
    data = load(name, vocab=30, samples=500)  # above 26 symbols: named s0, s1, ...
    vocab = data.info.vocab
    assert vocab[:3] == ["<pad>", "<bos>", "<eos>"] and vocab[3:] == [f"s{i}" for i in range(30)]
    for r in checked_rows(data):
        source, target = decoded(data, r), decoded(data, r, y=True)
        assert len(source) == data.extra["lengths"][r] and "<eos>" not in source and "<bos>" not in source
        assert target == rule(source, vocab) + ["<eos>"], r


def test_sort_is_by_symbol_id_and_the_letters_name_small_vocabularies():
    data = load("sort", vocab=4, min_len=6, max_len=6, longer=0, samples=50)
    assert data.info.vocab == ["<pad>", "<bos>", "<eos>", "a", "b", "c", "d"]
    body = data.y[:, :6]
    assert (np.diff(body, axis=1) >= 0).all() and (data.y[:, 6] == 2).all()
    assert (np.sort(data.x, axis=1) == body).all()


def test_add_targets_are_the_reversed_sums():
    data = load("add", digits=3, test_digits=5, samples=300)
    assert data.info.vocab[3:] == [str(d) for d in range(10)] + ["+"]
    for r in checked_rows(data):
        d = int(data.extra["lengths"][r])
        source, target = "".join(decoded(data, r)), decoded(data, r, y=True)
        a, b = source.split("+")
        assert len(a) == len(b) == d  # zero-padded to the digit count
        assert target[-1] == "<eos>" and len(target) == d + 2
        assert "".join(target[:-1]) == str(int(a) + int(b)).zfill(d + 1)[::-1], source


def test_add_carries_all_the_way():
    from dlcli.data.sequences import reversed_sum

    a, b = np.array([[9, 9, 9], [0, 0, 1]]), np.array([[0, 0, 1], [0, 0, 0]])
    assert reversed_sum(a, b).tolist() == [[0, 0, 0, 1], [1, 0, 0, 0]]


def test_parens_labels_and_half_of_each_class():
    data = load("parens", samples=2000, longer=100)
    assert data.info.labels == "classes" and data.info.classes == ["unbalanced", "balanced"]
    assert data.info.vocab == ["<pad>", "<bos>", "<eos>", "(", ")"]
    strings = ["".join(decoded(data, r)) for r in range(len(data.x))]
    assert [int(is_balanced(s)) for s in strings] == data.y.tolist()
    assert all(len(s) % 2 == 0 and len(s) == n for s, n in zip(strings, data.extra["lengths"].tolist()))
    assert np.bincount(data.y[:2000]).tolist() == [1000, 1000]
    for n in range(10, 17, 2):  # every longer length: half of each class too
        assert np.bincount(data.y[data.extra["lengths"] == n]).tolist() == [50, 50]
    same_counts = [s for s, y in zip(strings, data.y) if y == 0 and s.count("(") == s.count(")")]
    assert len(same_counts) > 100  # some unbalanced strings cannot be told by counting alone


def test_balanced_strings_are_uniform_over_their_length():
    data = load("parens", samples=8000, min_len=6, max_len=6, longer=0)
    seen = [("".join(decoded(data, r))) for r in np.flatnonzero(data.y == 1)]
    words = {"".join(p) for p in itertools.product("()", repeat=6) if is_balanced("".join(p))}
    counts = {w: seen.count(w) for w in words}
    assert len(words) == 5 and set(seen) == words  # Catalan(3) = 5 of them
    assert all(700 < c < 900 for c in counts.values()), counts  # 4000 / 5 = 800 each


# ------------------------------------------------------------------------------ layout


@pytest.mark.parametrize("name, x_width, y_width", [("copy", 16, 17), ("reverse", 16, 17), ("sort", 16, 17),
                                                    ("add", 7, 5), ("parens", 16, None)])
def test_shapes_padding_and_eos(name, x_width, y_width):
    data = load(name, samples=300)
    n = 300 + (1 if name == "add" else 8 if name != "parens" else 4) * 200
    assert data.x.shape == (n, x_width) and data.x.dtype == np.int64 and data.info.input_shape == (x_width,)
    assert data.info.layout == "sequence" and data.info.contiguous and data.info.samples == n
    width = 2 * data.extra["lengths"] + 1 if name == "add" else data.extra["lengths"]
    filled = np.arange(x_width)[None] < width[:, None]
    assert (data.x[filled] >= 3).all() and (data.x[~filled] == 0).all()  # symbols, then padding
    assert {k: data.extra[k] for k in ("pad", "bos", "eos", "kind")} == {"pad": 0, "bos": 1, "eos": 2, "kind": name}
    if y_width is None:
        assert data.y.shape == (n,) and data.info.labels == "classes"
        return
    assert data.y.shape == (n, y_width) and data.y.dtype == np.int64 and data.info.labels == "sequences"
    ends = data.extra["lengths"] + (1 if name == "add" else 0)  # a target of L symbols has its <eos> at L
    assert (data.y[np.arange(n), ends] == 2).all() and (data.y == 2).sum() == n and (data.y == 1).sum() == 0
    after = np.arange(y_width)[None] > ends[:, None]
    assert (data.y[after] == 0).all() and (data.y[~after] != 0).all()


@pytest.mark.parametrize("name, train_lengths, longer", [
    ("copy", range(2, 6), range(6, 10)), ("add", [3], [4, 5, 6]), ("parens", [2, 4], [6, 8])])
def test_the_test_part_holds_every_longer_length_and_train_none(name, train_lengths, longer):
    args = {"digits": 3, "test_digits": 6} if name == "add" else {"min_len": 2, "max_len": 5, "test_max_len": 9}
    data = load(name, Split(train=0.6, val=0.2, test=0.2), samples=500, longer=30, **args)
    lengths = data.extra["lengths"]
    assert data.extra["train_max_len"] == max(train_lengths)
    assert data.info.given == {"train": 300, "val": 100, "test": 100 + 30 * len(longer)}
    assert {p: v.tolist() for p, v in data.given.items()} == {
        "train": list(range(300)), "val": list(range(300, 400)), "test": list(range(400, 400 + 100 + 30 * len(longer)))}
    for part in ("train", "val"):
        assert set(lengths[data.given[part]].tolist()) == set(train_lengths)
    test = lengths[data.given["test"]]
    assert set(test[:100].tolist()) == set(train_lengths)  # its in-distribution share comes first
    assert {n: int((test == n).sum()) for n in longer} == {n: 30 for n in longer}
    assert set(test.tolist()) == set(train_lengths) | set(longer)


def test_partition_hands_back_the_parts_and_refuses_a_hash_split():
    data = load("reverse", samples=200)
    got = partition.make(Split(), data, "sequences", seed=5)
    assert {p: v.tolist() for p, v in got.items()} == {p: v.tolist() for p, v in data.given.items()}
    (found,) = partition.problems(Split(method="hash"), data.info, "sequences", 0)
    assert found[0] == ("method",)


def test_no_longer_samples():
    data = load("copy", samples=100, longer=0)
    assert data.info.given == {"train": 80, "val": 10, "test": 10} and data.x.shape == (100, 8)


# ------------------------------------------------------------------------ determinism, info


@pytest.mark.parametrize("name", KINDS)
def test_the_same_seed_gives_the_same_arrays(name):
    first, again, other = load(name, samples=300), load(name, samples=300), load(name, samples=300, seed=1)
    assert first.digest() == again.digest() and first.info == again.info
    assert (first.extra["lengths"] == again.extra["lengths"]).all()
    assert first.digest() != other.digest()


def test_the_test_lengths_leave_the_training_samples_alone():
    short, long = load("copy", samples=300, test_max_len=10), load("copy", samples=300, test_max_len=20)
    assert short.x.shape[1] == 10 and long.x.shape[1] == 20
    assert (short.x[:300] == long.x[:300, :10]).all() and (short.y[:300] == long.y[:300, :11]).all()


@pytest.mark.parametrize("name", KINDS)
def test_info_is_loads_info(name):
    src = sources.get(name)()
    a, split = src.Args(samples=500), Split(train=0.5, val=0.3, test=0.2)
    info = src.info(a, None, split=split)
    assert src.load(a, None, split=split).info == info and info.given["train"] == 250
    if name == "parens":
        assert info.class_counts == np.bincount(src.load(a, None).y).tolist()
    else:
        assert info.class_counts is None and info.classes is None


@pytest.mark.parametrize("name", KINDS)
def test_info_is_fast(name):
    src = sources.get(name)()
    best = 1e9
    for _ in range(3):
        started = time.perf_counter()
        src.info(src.Args(), None)
        best = min(best, time.perf_counter() - started)
    assert best < 0.2


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("name, args, said", [
    ("copy", {"max_len": 8, "test_max_len": 5}, r"test_max_len \(5\) must be >= max_len \(8\)"),
    ("reverse", {"min_len": 6, "max_len": 4}, r"max_len \(4\) must be >= min_len \(6\)"),
    ("add", {"digits": 3, "test_digits": 2}, r"test_digits \(2\) must be >= digits \(3\)"),
    ("parens", {"min_len": 3, "max_len": 3}, r"min_len..max_len \(3..3\) holds none"),
    ("add", {"max_len": 3}, "max_len"),  # add counts digits, not lengths
    ("sort", {"vocab": 0}, "greater than 0"),
    ("copy", {"seed": -1}, "greater than or equal to 0"),
])
def test_bad_arguments(name, args, said):
    with pytest.raises(ValidationError, match=said):
        sources.get(name).Args(**args)


def test_validate_names_the_bad_key(cli, write):
    path = write("p.yaml", RECIPE.replace("samples: 400", "samples: 400, max_len: 8, test_max_len: 5"))
    r = cli("validate", path)
    assert r.code == 2 and "data.source.test_max_len: test_max_len (5) must be >= max_len (8)" in r.err


def test_a_task_refuses_sequence_targets_in_words():
    said = Needs(labels=("classes",)).refusal("sequences")
    assert said == "it needs data with class labels, and this data has target token sequences"


# ---------------------------------------------------------------------- validate and train


def test_parens_validates_and_trains_as_a_classification(cli, write, tmp_path, monkeypatch):
    path = write("parens.yaml", RECIPE)
    r = cli("validate", path)
    assert r.code == 0, r.err
    assert "input (16,) -> output (2,)" in r.out
    monkeypatch.chdir(tmp_path)
    r = cli("train", path)
    assert r.code == 0, r.err
    assert (tmp_path / "runs" / "parens" / "0001").is_dir()
    assert "test split by source length" in r.out and "(longer)" in r.out


def test_parens_accuracy_length_by_length(cli, write, tmp_path):
    r = cli("train", write("parens.yaml", RECIPE), "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.err
    test = json.loads(r.out)["metrics"]["test"]
    rows = test["per_length"]
    assert [row["length"] for row in rows] == list(range(2, 17, 2))  # 2..8 trained, 10..16 only in test
    assert [row["beyond_training"] for row in rows] == [n > 8 for n in range(2, 17, 2)]
    assert all(row["samples"] == 200 for row in rows if row["beyond_training"])
    total = sum(row["samples"] for row in rows)
    assert test["accuracy"] == pytest.approx(sum(row["accuracy"] * row["samples"] for row in rows) / total)
    r = cli("eval", tmp_path / "runs" / "parens" / "0001", "--split", "val")
    assert r.code == 0, r.err
    assert "val split by source length" in r.out and "accuracy" in r.out and "(longer)" not in r.out
