"""`data.split: given`: a benchmark's own split, from an npz (x_train/y_train, x_val/y_val, x_test/y_test)
or a csv's split column, trained on exactly as given and read back by eval and resume."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dlcli.data import sources
from dlcli.data.base import SourceError

MODEL = """
model: [{linear: 8}, relu, {linear: auto}]
train: {epochs: 2, batch_size: 16}
"""
SIZES = {"train": 60, "val": 15, "test": 21}


def part(n: int, rng, shift: float = 0.0):
    y = np.arange(n) % 3
    return (rng.normal(size=(n, 4)) + y[:, None] * 2 + shift).astype(np.float32), y


def benchmark_npz(path, sizes=SIZES, shift=None):
    """x_<part>/y_<part> for each part with a size; `shift` offsets one part's inputs."""
    rng = np.random.default_rng(0)
    arrays = {}
    for name, n in sizes.items():
        x, y = part(n, rng, (shift or {}).get(name, 0.0))
        arrays[f"x_{name}"], arrays[f"y_{name}"] = x, y
    np.savez(path, **arrays)
    return arrays


def recipe(write, source: str, split: str = "given"):
    return write("g.yaml", f"data:\n  source: {source}\n  split: {split}\n" + MODEL)


def train(cli, path, tmp_path):
    r = cli("train", path, "--runs-dir", tmp_path / "runs", "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


# ------------------------------------------------------------------------------------ npz


def test_npz_given_split_trains_on_exactly_the_given_rows(cli, write, tmp_path):
    benchmark_npz(tmp_path / "b.npz")
    path = recipe(write, "{type: npz, path: b.npz}")
    assert cli("validate", path).code == 0
    record = train(cli, path, tmp_path)
    run = tmp_path / "runs" / "g" / "0001"
    saved = json.loads((run / "run.json").read_text())
    assert {k: saved["splits"][k] for k in SIZES} == SIZES
    splits = json.loads((run / "splits.json").read_text())
    assert splits["train"] == list(range(60)) and splits["val"] == list(range(60, 75))
    assert splits["test"] == list(range(75, 96)) and splits["digest"] == saved["splits"]["digest"]
    assert set(record["metrics"]) == {"train", "val", "test"}


def test_eval_and_resume_read_the_given_split_back(cli, write, tmp_path):
    benchmark_npz(tmp_path / "b.npz")
    train(cli, recipe(write, "{type: npz, path: b.npz}"), tmp_path)
    run = tmp_path / "runs" / "g" / "0001"
    before = (run / "splits.json").read_text()
    for split, n in SIZES.items():
        r = cli("eval", run, "--split", split, "--json")
        assert r.code == 0, r.err
        assert json.loads(r.out)["samples"] == n
    r = cli("train", "--resume", run, "--set", "train.epochs=3", "--json")
    assert r.code == 0, r.err
    assert (run / "splits.json").read_text() == before
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_normalisation_is_fitted_on_the_given_train_part_only(write, tmp_path):
    import torch

    from dlcli.engine.tensors import prepare
    from dlcli.recipe.check import load_recipe
    from dlcli.tasks import tasks

    arrays = benchmark_npz(tmp_path / "b.npz", shift={"test": 100.0})  # a test part far off: must not leak in
    resolved = load_recipe(recipe(write, "{type: npz, path: b.npz}"))
    data = prepare(resolved, torch.device("cpu"), tasks.get(resolved.task)())
    np.testing.assert_allclose(data.shift, arrays["x_train"].astype(np.float64).mean(0), rtol=1e-5)
    np.testing.assert_allclose(data.scale, arrays["x_train"].astype(np.float64).std(0), rtol=1e-5)


def test_npz_val_is_optional_and_test_too(cli, write, tmp_path):
    benchmark_npz(tmp_path / "b.npz", {"train": 30, "test": 12})
    record = train(cli, recipe(write, "{type: npz, path: b.npz}"), tmp_path)
    saved = json.loads((tmp_path / "runs" / "g" / "0001" / "run.json").read_text())
    assert (saved["splits"]["train"], saved["splits"]["val"], saved["splits"]["test"]) == (30, 0, 12)
    assert "test" in record["metrics"]


def test_npz_part_without_its_targets_names_the_missing_array(tmp_path):
    rng = np.random.default_rng(0)
    x, y = part(10, rng)
    np.savez(tmp_path / "b.npz", x_train=x, y_train=y, x_test=x, y_tset=y)
    src = sources.get("npz")()
    with pytest.raises(SourceError) as e:
        src.info(src.Args(path="b.npz"), tmp_path)
    assert "'y_test'" in str(e.value) and "did you mean 'y_tset'" in str(e.value) and e.value.key == "y"


def test_npz_parts_of_different_sample_shapes_are_refused(tmp_path):
    np.savez(tmp_path / "b.npz", x_train=np.ones((6, 4)), y_train=np.arange(6) % 2,
             x_test=np.ones((3, 5)), y_test=np.arange(3) % 2)
    src = sources.get("npz")()
    with pytest.raises(SourceError, match="'x_test'.*shape"):
        src.info(src.Args(path="b.npz"), tmp_path)


def test_npz_test_part_without_a_train_part_is_refused(tmp_path):
    np.savez(tmp_path / "b.npz", x_test=np.ones((6, 4)), y_test=np.arange(6) % 2)
    src = sources.get("npz")()
    with pytest.raises(SourceError, match="'x_train'"):
        src.info(src.Args(path="b.npz"), tmp_path)


def test_labels_are_encoded_over_every_part(tmp_path):
    """A class seen only in test still gets its own index, the same in every part."""
    np.savez(tmp_path / "b.npz", x_train=np.ones((4, 2)), y_train=np.array(["a", "b", "a", "b"]),
             x_test=np.ones((2, 2)), y_test=np.array(["c", "a"]))
    src = sources.get("npz")()
    data = src.load(src.Args(path="b.npz"), tmp_path)
    assert data.info.classes == ["a", "b", "c"] and data.y.tolist() == [0, 1, 0, 1, 2, 0]
    assert data.info.given == {"train": 4, "val": 0, "test": 2}


# ------------------------------------------------------------------------------------ csv


def split_csv(csv_writer, path, column=None):
    column = column or ["train"] * 20 + ["val"] * 5 + ["test"] * 7
    rows = [[i, (i * 7) % 5, "ab"[i % 2], s] for i, s in enumerate(column)]
    return csv_writer(path, ["f1", "f2", "label", "fold"], rows)


def test_csv_split_column_gives_the_split_and_is_no_feature(cli, write, tmp_path, csv_writer):
    column = ["test", "train", "val", "train"] * 8
    split_csv(csv_writer, tmp_path / "t.csv", column)
    path = recipe(write, "{type: csv, path: t.csv, target: label, split_column: fold}")
    assert cli("validate", path).code == 0
    train(cli, path, tmp_path)
    run = tmp_path / "runs" / "g" / "0001"
    splits = json.loads((run / "splits.json").read_text())
    for name in ("train", "val", "test"):
        assert splits[name] == [i for i, s in enumerate(column) if s == name]
    saved = json.loads((run / "run.json").read_text())
    assert saved["data"]["input_shape"] == [2]  # f1, f2: neither the target nor the split column


def test_csv_split_values_are_checked_with_a_suggestion(cli, write, tmp_path, csv_writer):
    column = ["train"] * 20 + ["trian"] + ["test"] * 7  # line 22
    split_csv(csv_writer, tmp_path / "t.csv", column)
    r = cli("validate", recipe(write, "{type: csv, path: t.csv, target: label, split_column: fold}"))
    assert r.code == 2
    assert "data.source.split_column" in r.err and "t.csv" in r.err and "line 22" in r.err
    assert "'trian'" in r.err and "did you mean 'train'" in r.err and "g.yaml:2:" in r.err


def test_csv_split_column_name_gets_a_suggestion(cli, write, tmp_path, csv_writer):
    split_csv(csv_writer, tmp_path / "t.csv")
    r = cli("validate", recipe(write, "{type: csv, path: t.csv, target: label, split_column: fodl}"))
    assert r.code == 2 and "did you mean 'fold'" in r.err and "data.source.split_column" in r.err


def test_csv_split_column_cannot_be_a_feature(tmp_path, csv_writer):
    split_csv(csv_writer, tmp_path / "t.csv")
    src = sources.get("csv")()
    with pytest.raises(SourceError, match="split column") as e:
        src.info(src.Args(path="t.csv", target="label", split_column="fold", features=["f1", "fold"]), tmp_path)
    assert e.value.key == "features"


# ------------------------------------------------------------------- what validate refuses


def test_given_split_of_data_that_has_none_is_a_located_error(cli, write, tmp_path):
    """Needs the data.split hook in recipe/check.py's load_recipe (dlcli.data.partition.recipe_problems)."""
    np.savez(tmp_path / "d.npz", x=np.ones((10, 2)), y=np.arange(10) % 2)
    for source in ("iris", "{type: npz, path: d.npz}"):
        r = cli("validate", recipe(write, source))
        assert r.code == 2, source
        assert "g.yaml:3:" in r.err and "data.split" in r.err and "x_train" in r.err and "split_column" in r.err


def test_given_split_of_data_that_has_none_stops_training_up_front(cli, write, tmp_path):
    r = cli("train", recipe(write, "iris"), "--runs-dir", tmp_path / "runs")
    assert r.code == 2 and "x_train" in r.err and not (tmp_path / "runs").exists()


def test_fractions_over_data_that_comes_split_are_refused(cli, write, tmp_path):
    """A benchmark's own split is not silently pooled and split again (hook needed, as above)."""
    benchmark_npz(tmp_path / "b.npz")
    r = cli("validate", recipe(write, "{type: npz, path: b.npz}", "{train: 0.8, val: 0.1, test: 0.1}"))
    assert r.code == 2 and "split: given" in r.err and "train 60, val 15, test 21" in r.err


@pytest.mark.parametrize("split, said", [("gvien", "did you mean 'given'"),
                                         ("{method: given, val: 0.2}", "takes no val")])
def test_given_is_spelled_and_used_alone(cli, write, tmp_path, split, said):
    benchmark_npz(tmp_path / "b.npz")
    r = cli("validate", recipe(write, "{type: npz, path: b.npz}", split))
    assert r.code == 2 and said in r.err and "data.split" in r.err and "g.yaml:3:" in r.err


def test_given_split_without_train_rows_is_refused(tmp_path, csv_writer):
    from dlcli.data.partition import problems
    from dlcli.recipe.schema import Split

    split_csv(csv_writer, tmp_path / "t.csv", ["val"] * 4 + ["test"] * 4)
    src = sources.get("csv")()
    info = src.info(src.Args(path="t.csv", target="label", split_column="fold"), tmp_path)
    (found,) = problems(Split(method="given"), info, info.labels, 0)
    assert "no train samples" in found[1]


def test_the_schema_offers_given_to_editors():
    from dlcli.recipe.schema import Data

    schema = Data.model_json_schema()["properties"]["split"]
    assert {"const": "given", "type": "string"} in schema["anyOf"]
