"""What `validate` used to pass and training then died on: bad csv cells, damaged npz archives,
unstratifiable splits, a source named twice. Each is a located exit 2, up front."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from dlcli.data.base import SourceError
from dlcli.data.splits import split_indices, split_sizes, stratification_problem

MODEL = """
model: [{linear: 8}, relu, {linear: auto}]
train: {epochs: 1, batch_size: 16}
"""


def recipe(write, source: str, extra: str = "") -> object:
    return write("r.yaml", f"data:\n  source: {source}\n{extra}" + MODEL)


def train(cli, path, tmp_path):
    return cli("train", path, "--runs-dir", tmp_path / "runs", "--json")


# ------------------------------------------------------------------------------ csv cells


@pytest.mark.parametrize("cell, said", [("nan", "'nan'"), ("inf", "'inf'"), ("-Infinity", "'-Infinity'"),
                                         ("", "is empty")])
def test_bad_feature_cell_is_a_located_error_at_validate(cli, write, tmp_path, csv_writer, cell, said):
    rows = [[i, i % 2, "ab"[i % 2]] for i in range(12)]
    rows[6][1] = cell  # line 8: the header is line 1
    csv_writer(tmp_path / "t.csv", ["f1", "f2", "label"], rows)
    path = recipe(write, "{type: csv, path: t.csv, target: label}")
    r = cli("validate", path)
    assert r.code == 2, r.out
    assert "r.yaml:2:" in r.err and "data.source.features" in r.err
    assert "t.csv" in r.err and "line 8" in r.err and "'f2'" in r.err and said in r.err
    assert "Traceback" not in r.err
    r = train(cli, path, tmp_path)
    assert r.code == 2 and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("cell, said", [("nan", "'nan'"), ("inf", "'inf'"), ("", "is empty")])
def test_bad_target_cell_is_a_located_error_at_validate(cli, write, tmp_path, csv_writer, cell, said):
    rows = [[i, i * 0.5] for i in range(30)]
    rows[3][1] = cell  # line 5
    csv_writer(tmp_path / "t.csv", ["f", "y"], rows)
    r = cli("validate", recipe(write, "{type: csv, path: t.csv, target: y}"))
    assert r.code == 2
    assert "data.source.target" in r.err and "t.csv" in r.err and "line 5" in r.err and "'y'" in r.err
    assert said in r.err


def test_nan_in_a_string_label_column_is_not_a_class(tmp_path, csv_writer):
    from dlcli.data import sources

    csv_writer(tmp_path / "t.csv", ["f", "kind"], [[1, "a"], [2, "b"], [3, "NaN"], [4, "a"]])
    src = sources.get("csv")()
    with pytest.raises(SourceError, match="line 4") as e:
        src.info(src.Args(path="t.csv", target="kind"), tmp_path)
    assert e.value.key == "target"


# --------------------------------------------------------------------------- source named twice


def test_type_and_name_together_is_an_error(cli, write, tmp_path):
    path = recipe(write, "{type: iris, name: wine}")
    r = cli("validate", path)
    assert r.code == 2 and "r.yaml:2:" in r.err and "data.source" in r.err
    r = train(cli, path, tmp_path)
    assert r.code == 2 and not (tmp_path / "runs").exists()


def test_type_and_name_together_says_which_two_names():
    from dlcli.components import split_source

    with pytest.raises(ValueError) as e:
        split_source({"type": "iris", "name": "wine"})
    assert "'iris'" in str(e.value) and "'wine'" in str(e.value) and "not both" in str(e.value)


def test_type_alone_and_name_alone_still_work(cli, write):
    assert cli("validate", recipe(write, "{type: wine}")).code == 0
    assert cli("validate", write("n.yaml", "data:\n  source: {name: wine}\n" + MODEL)).code == 0


# ------------------------------------------------------------------------------- damaged npz


def good_npz(path):
    np.savez(path, x=np.arange(40, dtype=np.float32).reshape(20, 2), y=np.arange(20) % 2)
    return path


def truncated(path):
    data = good_npz(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])


def not_a_zip(path):
    path.write_bytes(b"this is not an archive\n" * 10)


def member_not_npy(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", b"just some bytes, no numpy header")
        z.writestr("y.npy", b"\x00\x01")


def flipped_data(path):
    """The directory intact, a byte deep inside x's data changed: only reading all of x finds out
    (a bad CRC); x is large enough that reading its header does not read that far."""
    x = np.zeros((2000, 10), np.float32)
    x[-1, -1] = 1.0
    np.savez(path, x=x, y=np.arange(2000) % 2)
    data = bytearray(path.read_bytes())
    at = data.index(b"\x00\x00\x80?")  # x[-1, -1] == 1.0 in float32, at the end of x.npy's data
    data[at + 3] ^= 0xFF
    path.write_bytes(bytes(data))


def object_x(path):
    np.savez(path, x=np.array([[1, "a"], [None, 2]], dtype=object), y=np.arange(2))


def object_y(path):
    np.savez(path, x=np.ones((2, 2)), y=np.array([{"a": 1}, None], dtype=object))


@pytest.mark.parametrize("damage, said", [(truncated, "not an .npz archive"), (not_a_zip, "not an .npz archive"),
                                           (member_not_npy, "cannot be read"), (object_x, "pickle"),
                                           (object_y, "pickle")])
def test_damaged_npz_is_exit_2_at_validate_naming_the_file(cli, write, tmp_path, damage, said):
    damage(tmp_path / "d.npz")
    r = cli("validate", recipe(write, "{type: npz, path: d.npz}"))
    assert r.code == 2, r.out
    assert "d.npz" in r.err and said in r.err and "Traceback" not in r.err
    assert "data.source" in r.err and "r.yaml:2:" in r.err


def test_npz_damage_found_only_when_training_reads_x_is_exit_2_without_a_run(cli, write, tmp_path):
    flipped_data(tmp_path / "d.npz")
    path = recipe(write, "{type: npz, path: d.npz}", "  split: {stratify: false}\n")
    assert cli("validate", path).code == 0  # validate reads x's header only, by design (large arrays)
    r = train(cli, path, tmp_path)
    assert r.code == 2, r.err
    assert "d.npz" in r.err and "'x'" in r.err and "damaged" in r.err
    assert not (tmp_path / "runs").exists()


def test_pickled_arrays_are_never_unpickled(tmp_path, monkeypatch):
    from dlcli.data import sources

    calls = []
    original = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(k.get("allow_pickle")) or original(*a, **k))
    object_y(tmp_path / "d.npz")
    src = sources.get("npz")()
    with pytest.raises(SourceError) as e:
        src.load(src.Args(path="d.npz"), tmp_path)
    assert e.value.key == "y" and "dtype object" in str(e.value)
    assert all(flag is False for flag in calls)


def test_nan_inputs_in_an_npz_are_refused_at_load(tmp_path):
    from dlcli.data import sources

    x = np.ones((6, 3), np.float32)
    x[4, 1] = np.nan
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(6) % 2)
    src = sources.get("npz")()
    with pytest.raises(SourceError, match="sample 4"):
        src.load(src.Args(path="d.npz"), tmp_path)


# ---------------------------------------------------------------------- unstratifiable splits


def rare_class_csv(csv_writer, tmp_path, common: int, rare: int):
    rows = [[i, i % 5, "common"] for i in range(common)] + [[100 + i, 1, "rare"] for i in range(rare)]
    return csv_writer(tmp_path / "t.csv", ["f1", "f2", "label"], rows)


def test_unstratifiable_split_is_caught_by_validate(cli, write, tmp_path, csv_writer):
    """Needs the data.split hook in recipe/check.py's load_recipe (dlcli.data.partition.recipe_problems)."""
    rare_class_csv(csv_writer, tmp_path, 40, 1)
    path = recipe(write, "{type: csv, path: t.csv, target: label}")
    r = cli("validate", path)
    assert r.code == 2, r.out
    assert "data.split" in r.err and "'rare'" in r.err and "1 sample" in r.err and "stratify: false" in r.err
    assert "r.yaml:1:" in r.err
    fixed = recipe(write, "{type: csv, path: t.csv, target: label}", "  split: {stratify: false}\n")
    assert cli("validate", fixed).code == 0


# 20 + 2 samples, 7 to test: the test cut leaves 1 'rare' for train + val, which the val cut then
# cannot stratify; known only by replaying the test cut's allocation
SECOND_CUT = "  split: {train: 0.6, val: 0.1, test: 0.3}\n"


def test_a_failure_of_the_second_cut_is_caught_by_validate_too(cli, write, tmp_path, csv_writer):
    rare_class_csv(csv_writer, tmp_path, 20, 2)
    r = cli("validate", recipe(write, "{type: csv, path: t.csv, target: label}", SECOND_CUT))
    assert r.code == 2 and "'rare'" in r.err and "2 sample" in r.err and "r.yaml:3:" in r.err


def test_unstratifiable_split_stops_training_before_a_run_directory(cli, write, tmp_path, csv_writer):
    rare_class_csv(csv_writer, tmp_path, 20, 2)
    r = train(cli, recipe(write, "{type: csv, path: t.csv, target: label}", SECOND_CUT), tmp_path)
    assert r.code == 2 and "'rare'" in r.err and "2 sample" in r.err and "stratify: false" in r.err
    assert not (tmp_path / "runs").exists()


def test_a_builtin_split_too_fine_for_its_classes_is_caught_by_validate(cli, write):
    """iris has 3 classes: a val split of 1 sample cannot hold one of each (hook needed, as above)."""
    r = cli("validate", recipe(write, "iris", "  split: {train: 0.985, val: 0.005, test: 0.01}\n"))
    assert r.code == 2 and "fewer than the 3 classes" in r.err and "data.split" in r.err


@pytest.mark.parametrize("seed", range(40))
def test_validate_decides_exactly_what_the_split_decides(seed):
    """From class counts and the seed alone, the same verdict and message as splitting the labels."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 7, int(rng.integers(2, 6)))
    y = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    train_ = float(rng.uniform(0.3, 0.9))
    val = float(rng.uniform(0, 1 - train_))
    for split_seed in range(0, 200, 7):
        try:
            split_indices(y, "classes", train_, val, 1 - train_ - val, True, split_seed)
            runtime = None
        except SourceError as e:
            runtime = str(e)
        _, n_val, n_test = split_sizes(len(y), train_, val, 1 - train_ - val)
        assert stratification_problem(counts.tolist(), n_val, n_test, split_seed) == runtime


def test_split_record_is_unchanged_for_a_stratified_builtin(cli, write, tmp_path):
    """The numpy stratified split keeps every old split: iris with the default split, seed 0."""
    r = train(cli, write("i.yaml", "data: {source: iris}\n" + MODEL), tmp_path)
    assert r.code == 0, r.err
    run = json.loads(r.out)["run"]
    splits = json.loads((tmp_path / "runs" / "i" / "0001" / "splits.json").read_text()) if run else {}
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    y = load_iris().target
    rest, test = train_test_split(np.arange(150), test_size=15, stratify=y, random_state=0)
    train_idx, val = train_test_split(rest, test_size=15, stratify=y[rest], random_state=0)
    assert splits["test"] == sorted(test.tolist()) and splits["val"] == sorted(val.tolist())
    assert splits["train"] == sorted(train_idx.tolist())
