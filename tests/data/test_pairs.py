"""The csv source's pairs mode (data/pairs.py): string pairs as character ids for seq2seq."""
from __future__ import annotations

import numpy as np
import pytest

import dlcli.data  # noqa: F401  (fills the registries)
from dlcli.data.base import SourceError, sources
from dlcli.data.pairs import UNK, encode

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]


def pairs_file(tmp_path, text: str, name: str = "pairs.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def pairs(tmp_path, labels=None, info=False, **args):
    src = sources.get("csv")()
    a = src.Args(**{"path": "pairs.csv", "source": "src", "target": "tgt", **args})
    return src.info(a, tmp_path, labels) if info else src.load(a, tmp_path, labels)


def failure(tmp_path, **args) -> SourceError:
    with pytest.raises(SourceError) as e:
        pairs(tmp_path, **args)
    return e.value


# ------------------------------------------------------------------------------- reading


def test_three_rows_exact_ids_vocab_and_lengths(tmp_path):
    pairs_file(tmp_path, "src,tgt\nab,ba\nçb,\nbca,xa!\n")  # a non-ASCII character and an empty target
    data = pairs(tmp_path)
    vocab = SPECIALS + ["!", "a", "b", "c", "x", "ç"]
    assert data.info.vocab == vocab
    a, b, c, x, cc, bang = (vocab.index(s) for s in "abcxç!")
    assert data.x.dtype == np.int64 and data.x.tolist() == [[a, b, 0], [cc, b, 0], [b, c, a]]
    assert data.y.dtype == np.int64 and data.y.tolist() == [[b, a, 2, 0], [2, 0, 0, 0], [x, a, bang, 2]]
    assert data.extra["lengths"].dtype == np.int64 and data.extra["lengths"].tolist() == [2, 2, 3]
    assert {k: v for k, v in data.extra.items() if k != "lengths"} == {
        "pad": 0, "bos": 1, "eos": 2, "unk": 3, "kind": "pairs", "separator": "", "source": "src"}
    info = data.info
    assert (info.input_shape, info.labels, info.layout, info.samples, info.targets) == ((3,), "sequences", "sequence", 3, 4)
    assert (info.classes, info.given, data.given) == (None, None, None)


def test_padding_widths_follow_the_longest_source_and_target(tmp_path):
    rows = [("a", "bbbbb"), ("aaaaaaa", "b"), ("aa", "")]
    pairs_file(tmp_path, "src,tgt\n" + "".join(f"{s},{t}\n" for s, t in rows))
    data = pairs(tmp_path)
    assert data.x.shape == (3, 7) and data.y.shape == (3, 6)  # S = longest source, T = longest target + 1
    for i, (s, t) in enumerate(rows):
        assert (data.x[i, :len(s)] != 0).all() and (data.x[i, len(s):] == 0).all()
        assert data.y[i, len(t)] == 2 and (data.y[i, :len(t)] > 3).all() and (data.y[i, len(t) + 1:] == 0).all()
    assert 1 not in data.y and 2 not in data.x  # no <bos> in targets, no <eos> in sources


def test_cells_are_read_verbatim_spaces_and_quotes_included(tmp_path):
    pairs_file(tmp_path, 'src,tgt\n" a,b",b a\n')
    data = pairs(tmp_path)
    assert data.info.vocab == SPECIALS + [" ", ",", "a", "b"]
    assert [data.info.vocab[i] for i in data.x[0]] == [" ", "a", ",", "b"]
    assert data.extra["lengths"].tolist() == [4]


def test_split_column_gives_the_parts_and_is_never_read_as_text(tmp_path):
    pairs_file(tmp_path, "src,part,tgt\nab,train,b\nb,Test,a\naa,train,bb\nba,val,ab\n")
    data = pairs(tmp_path, split_column="part")
    assert {p: idx.tolist() for p, idx in data.given.items()} == {"train": [0, 2], "val": [3], "test": [1]}
    assert data.info.given == {"train": 2, "val": 1, "test": 1}
    assert data.info.vocab == SPECIALS + ["a", "b"]  # the part names' letters are not symbols


def test_the_target_is_sequences_whatever_the_task_hints(tmp_path):
    pairs_file(tmp_path, "src,tgt\n1,2\n3,4\n")  # digits that the numeric mode would read as classes
    plain = pairs(tmp_path)
    for hint in ("classes", "values"):
        data = pairs(tmp_path, labels=hint)
        assert (data.info.labels, data.info.classes, data.info.targets) == ("sequences", None, 2)  # targets: its width
        assert np.array_equal(data.y, plain.y) and np.array_equal(data.x, plain.x)


def test_info_matches_load_for_what_validate_needs(tmp_path):
    pairs_file(tmp_path, "src,tgt,part\nhello,olleh,train\nwörld,dlröw,val\nab,ba,test\n")
    info, data = pairs(tmp_path, info=True, split_column="part"), pairs(tmp_path, split_column="part")
    fields = ("input_shape", "labels", "layout", "samples", "vocab", "given", "classes", "targets", "contiguous")
    assert {f: getattr(info, f) for f in fields} == {f: getattr(data.info, f) for f in fields}
    assert info.input_shape == (5,) and info.samples == 3


def test_encode_maps_unseen_characters_to_unk():
    vocab = SPECIALS + ["a", "b"]
    assert encode(["ab", "aqb", ""], vocab, eos=True).tolist() == [[4, 5, 2, 0], [4, UNK, 5, 2], [2, 0, 0, 0]]
    assert encode(["ba"], vocab).tolist() == [[5, 4]]


# -------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("key, wrong, near", [("source", "scr", "src"), ("target", "tgtt", "tgt")])
def test_a_missing_column_is_named_with_the_nearest(tmp_path, key, wrong, near):
    path = pairs_file(tmp_path, "src,tgt\nab,ba\n")
    e = failure(tmp_path, **{key: wrong})
    assert e.key == key
    assert str(e) == f"{path} has no column '{wrong}'; did you mean '{near}'?"


def test_a_missing_column_far_from_any_lists_the_columns(tmp_path):
    pairs_file(tmp_path, "src,tgt\nab,ba\n")
    e = failure(tmp_path, target="zzzzzz")
    assert e.key == "target" and "'zzzzzz'" in str(e) and "columns: src, tgt" in str(e)


def test_an_empty_source_cell_names_file_line_and_column(tmp_path):
    path = pairs_file(tmp_path, "src,tgt\nab,ba\n\n,c\n")  # the blank line still counts: line 4
    e = failure(tmp_path)
    assert e.key == "source"
    assert str(e).startswith(f"{path}: source column 'src' is empty on line 4;")


def test_features_cannot_come_with_source(tmp_path):
    pairs_file(tmp_path, "src,tgt\nab,ba\n")
    e = failure(tmp_path, features=["src"])
    assert e.key == "features" and "leave `features` out" in str(e) and "'src'" in str(e)


def test_source_and_target_need_columns_of_their_own(tmp_path):
    pairs_file(tmp_path, "src,tgt,part\nab,ba,train\n")
    e = failure(tmp_path, target="src")
    assert e.key == "source" and "both name column 'src'" in str(e)
    e = failure(tmp_path, split_column="tgt")
    assert e.key == "split_column" and "'tgt' is the split column" in str(e) and "target" in str(e)


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_bytes("src,tgt\nçb,a\n".encode("latin-1"))
    e = failure(tmp_path)
    assert e.key == "path" and str(e).startswith(f"{path} is not a readable UTF-8 CSV file")


def test_validate_names_a_missing_target_column_without_a_traceback(tmp_path, cli, write):
    pairs_file(tmp_path, "src,tgt\nab,ba\nba,ab\n")
    recipe = write("pairs.yaml", """
        name: pairs
        task: classification
        data: {source: {type: csv, path: pairs.csv, source: src, target: tgtt}}
        model: [{embedding: {dim: 8}}, {lstm: {hidden: 16}}, {linear: auto}]
        train: {epochs: 1, batch_size: 2}
    """)
    r = cli("validate", recipe)
    assert r.code == 2
    text = r.out + r.err
    assert "Traceback" not in text
    assert "data.source.target" in text and "no column 'tgtt'; did you mean 'tgt'?" in text
