"""dlcli predict: raw inputs through an exported model on ONNX Runtime alone.

Four tiny runs (digits, iris, diabetes, an image folder) are trained and exported once for the
module; every test predicts with them through the real entry point.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT

DIGITS = """
name: digits
data: {source: digits}
model: [flatten, {linear: 32}, relu, {linear: auto}]
train: {epochs: 3, batch_size: 32, optimizer: {name: adam, lr: 0.01}}
"""
DIABETES = """
name: diabetes
data: {source: diabetes}
model: [{linear: 16}, relu, {linear: auto}]
train: {epochs: 2, batch_size: 32}
"""
IMAGES = """
name: shades
data: {source: {type: image_folder, path: PATH, size: [8, 8], mode: grayscale}}
model: [flatten, {linear: auto}]
train: {epochs: 8, batch_size: 4, optimizer: {name: adam, lr: 0.05}}
"""


def train_and_export(root: Path, name: str, recipe: str) -> Path:
    from dlcli.workflows.train import run_training
    from dlcli.workflows.export import export_run
    from dlcli.report.console import TrainReporter

    path = root / f"{name}.yaml"
    path.write_text(textwrap.dedent(recipe).lstrip())
    run = Path(run_training(path, None, [], root / "runs", TrainReporter(quiet=True))["run"])
    export_run(run)
    return run


def shade_images(folder: Path) -> None:
    """Two classes anyone can tell apart: bright and dark 8x8 grayscale PNGs, 10 each."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, low, high in (("bright", 180, 255), ("dark", 0, 70)):
        (folder / name).mkdir(parents=True)
        for i in range(10):
            pixels = rng.integers(low, high, (8, 8), dtype=np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / name / f"{name}{i}.png")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("predict")


@pytest.fixture(scope="module")
def diabetes_run(root):
    return train_and_export(root, "diabetes", DIABETES)


@pytest.fixture(scope="module")
def image_run(root):
    shade_images(root / "shades")
    return train_and_export(root, "shades", IMAGES.replace("PATH", str(root / "shades")))


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data[:200], d.target[:200]


def write_csv(path: Path, header: list[str], rows) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def digits_csv(tmp_path, digits):
    """Raw sklearn pixels (0..16), no dlcli preprocessing: the graph must do it all."""
    return write_csv(tmp_path / "digits.csv", [f"pixel_{i}" for i in range(64)], digits[0].tolist())


def iris_table():
    from sklearn.datasets import load_iris

    d = load_iris()
    return [str(n) for n in d.feature_names], d.data, d.target


def predictions(r) -> list[dict]:
    assert r.code == 0, r.err
    return json.loads(r.out)["predictions"]


# ------------------------------------------------------------------------------ classification


def test_digits_raw_pixels_csv_predicts_accurately(cli, digits_run, digits_csv, digits):
    r = cli("predict", digits_run, digits_csv)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == 200
    fields = [line.split("\t") for line in lines]
    assert [int(f[0]) for f in fields] == list(range(200))
    assert all(len(f) == 3 and 0 < float(f[2]) <= 1 and len(f[2].split(".")[1]) == 4 for f in fields)
    labels = np.array([int(f[1]) for f in fields])
    assert (labels == digits[1]).mean() > 0.9  # preprocessing (normalisation, reshape) is inside the graph


def test_json_document_has_labels_and_full_probability_vectors(cli, digits_run, digits_csv, digits):
    r = cli("predict", digits_run, digits_csv, "--json")
    doc = json.loads(r.out)
    assert r.code == 0 and doc["rows"] == 200 and doc["model"].endswith("model.onnx")
    assert doc["task"] == "classification" and doc["scores"] == "logits" and "note" not in doc
    for p in doc["predictions"]:
        probs = p["probabilities"]
        assert list(probs) == [str(i) for i in range(10)]
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert p["label"] == max(probs, key=probs.get) and p["probability"] == probs[p["label"]]
    assert np.mean([int(p["label"]) for p in doc["predictions"]] == digits[1]) > 0.9


def test_out_csv_and_json_hold_every_row(cli, digits_run, digits_csv, tmp_path):
    r = cli("predict", digits_run, digits_csv, "--out", tmp_path / "p.csv")
    assert r.code == 0 and r.out.strip() == f"wrote 200 predictions to {tmp_path / 'p.csv'}"
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 200 and list(rows[0]) == ["row", "label", "probability"] + [f"p_{i}" for i in range(10)]
    assert sum(float(rows[5][f"p_{i}"]) for i in range(10)) == pytest.approx(1.0, abs=1e-6)
    r = cli("predict", digits_run, digits_csv, "--out", tmp_path / "p.json", "--json")
    assert json.loads(r.out) == {"model": str(digits_run / "model.onnx"), "rows": 200, "out": str(tmp_path / "p.json")}
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["rows"] == 200 and len(doc["predictions"]) == 200
    assert [p["label"] for p in doc["predictions"]] == [row["label"] for row in rows]
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temp file left over


def test_batch_size_does_not_change_predictions(cli, digits_run, digits_csv):
    whole = predictions(cli("predict", digits_run, digits_csv, "--json"))
    batched = predictions(cli("predict", digits_run, digits_csv, "--json", "--batch-size", "7"))
    assert [p["label"] for p in batched] == [p["label"] for p in whole]
    assert [p["probability"] for p in batched] == pytest.approx([p["probability"] for p in whole], abs=1e-6)
    assert cli("predict", digits_run, digits_csv, "--batch-size", "0").code == 2


def test_npz_flat_or_image_shaped_both_work(cli, digits_run, digits, tmp_path):
    x = digits[0]
    np.savez(tmp_path / "flat.npz", x=x)
    np.savez(tmp_path / "shaped.npz", pixels=x.reshape(-1, 1, 8, 8).astype(np.uint8))  # the only array
    flat = predictions(cli("predict", digits_run, tmp_path / "flat.npz", "--json"))
    shaped = predictions(cli("predict", digits_run, tmp_path / "shaped.npz", "--json"))
    assert len(flat) == 200 and [p["label"] for p in flat] == [p["label"] for p in shaped]
    assert np.mean([int(p["label"]) for p in flat] == digits[1]) > 0.9


def test_wrong_values_per_sample_exit_2_with_expected_and_got(cli, digits_run, digits, tmp_path):
    np.savez(tmp_path / "short.npz", x=digits[0][:, :63])
    r = cli("predict", digits_run, tmp_path / "short.npz")
    assert r.code == 2 and "Traceback" not in r.err
    assert "(N, 64)" in r.err and "(200, 63)" in r.err
    short = write_csv(tmp_path / "short.csv", [f"p{i}" for i in range(63)], digits[0][:, :63].tolist())
    r = cli("predict", digits_run, short)
    assert r.code == 2 and "expected 64 values per row, got 63" in " ".join(r.err.split())


def test_npz_with_several_arrays_and_no_x_is_refused(cli, digits_run, digits, tmp_path):
    np.savez(tmp_path / "two.npz", a=digits[0], b=digits[1])
    r = cli("predict", digits_run, tmp_path / "two.npz")
    assert r.code == 2 and "'a', 'b'" in r.err and "'x'" in r.err


def test_text_columns_are_skipped_for_unnamed_features(cli, digits_run, digits, tmp_path):
    """Without feature names only numeric columns count, in order: a file-name column is not one."""
    rows = [[f"img{i}.png"] + list(v) for i, v in enumerate(digits[0][:10].tolist())]
    path = write_csv(tmp_path / "named.csv", ["name"] + [f"p{i}" for i in range(64)], rows)
    got = predictions(cli("predict", digits_run, path, "--json"))
    assert [int(p["label"]) for p in got] == [int(p["label"]) for p in predictions(
        cli("predict", digits_run, write_csv(tmp_path / "bare.csv", list(range(64)), digits[0][:10].tolist()), "--json"))]


def test_non_numeric_cell_names_row_and_column(cli, iris_run, tmp_path):
    names, x, _ = iris_table()
    rows = x[:5].tolist()
    rows[3][2] = "n/a"
    r = cli("predict", iris_run, write_csv(tmp_path / "bad.csv", names, rows))
    err = " ".join(r.err.split())
    assert r.code == 2 and "row 3 (line 5)" in err and "'petal length (cm)'" in err and "'n/a'" in err


def test_iris_columns_matched_by_name_in_any_order_with_extras(cli, iris_run, tmp_path):
    names, x, y = iris_table()
    ordered = write_csv(tmp_path / "ordered.csv", names, x.tolist())
    order = [2, 0, 3, 1]
    shuffled = write_csv(tmp_path / "shuffled.csv", ["id"] + [names[i] for i in order] + ["species"],
                         [[100 + i] + list(row[order]) + ["?"] for i, row in enumerate(x)])
    a = predictions(cli("predict", iris_run, ordered, "--json"))
    b = predictions(cli("predict", iris_run, shuffled, "--json"))
    assert len(b) == 150 and [p["label"] for p in a] == [p["label"] for p in b]
    assert {p["label"] for p in b} <= {"setosa", "versicolor", "virginica"}
    assert [p["probability"] for p in a] == pytest.approx([p["probability"] for p in b], abs=1e-6)


def test_missing_feature_column_is_named_with_a_suggestion(cli, iris_run, tmp_path):
    names, x, _ = iris_table()
    header = [n.replace("petal width (cm)", "petal_width_cm") for n in names]
    r = cli("predict", iris_run, write_csv(tmp_path / "typo.csv", header, x.tolist()))
    err = " ".join(r.err.split())
    assert r.code == 2 and "Traceback" not in r.err
    assert "lacks 1 of the model's 4 feature columns: 'petal width (cm)' (did you mean 'petal_width_cm'?)" in err


def test_unnamed_columns_for_a_named_model_are_refused_not_guessed(cli, iris_run, tmp_path):
    """A names-card model never falls back to position: a, b, c, d might be in any order."""
    _, x, _ = iris_table()
    r = cli("predict", iris_run, write_csv(tmp_path / "anon.csv", ["a", "b", "c", "d"], x.tolist()))
    err = " ".join(r.err.split())
    assert r.code == 2 and "lacks 4 of the model's 4 feature columns" in err and "'sepal length (cm)'" in err


def test_image_file_on_a_non_image_model_exit_2(cli, digits_run, image_run, root):
    r = cli("predict", digits_run, root / "shades" / "dark" / "dark0.png")
    assert r.code == 2 and "not trained on image files" in " ".join(r.err.split())


# ---------------------------------------------------------------------------------- regression


def test_regression_values_are_in_target_units(cli, diabetes_run, tmp_path):
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    path = write_csv(tmp_path / "patients.csv", list(d.feature_names), d.data[:100].tolist())
    doc = json.loads(cli("predict", diabetes_run, path, "--json").out)
    assert doc["task"] == "regression" and doc["scores"] == "values" and doc["rows"] == 100
    values = [p["values"][0] for p in doc["predictions"]]
    assert all(len(p["values"]) == 1 and "label" not in p for p in doc["predictions"])
    assert 25 < np.mean(values) < 346  # the sklearn targets' range: the graph undoes the target scaling
    r = cli("predict", diabetes_run, path)
    assert [line.split("\t")[0] for line in r.out.splitlines()] == [str(i) for i in range(100)]
    assert float(r.out.splitlines()[0].split("\t")[1]) == pytest.approx(values[0], rel=1e-4)
    cli("predict", diabetes_run, path, "--out", tmp_path / "v.csv")
    assert (tmp_path / "v.csv").read_text().splitlines()[0] == "row,value"


# -------------------------------------------------------------------------------------- images


def test_image_file_and_folder_get_class_names(cli, image_run, root):
    folder = root / "shades"
    one = predictions(cli("predict", image_run, folder / "bright" / "bright3.png", "--json"))
    assert one == [{"file": "bright3.png", "label": "bright", "probability": one[0]["probability"],
                    "probabilities": one[0]["probabilities"]}]
    doc = json.loads(cli("predict", image_run, folder, "--json").out)
    assert doc["rows"] == 20 and doc["predictions"][0]["file"] == "bright/bright0.png"
    right = [p["label"] == p["file"].split("/")[0] for p in doc["predictions"]]
    assert sum(right) >= 18
    r = cli("predict", image_run, folder)
    assert r.out.splitlines()[0].startswith("bright/bright0.png\tbright\t")


# ------------------------------------------------------------------------------------- scores


def test_probabilities_follow_what_the_scores_mean():
    from dlcli.export.predict import probabilities

    z = np.array([[2.0, -1.0, 0.5], [-800.0, 800.0, 0.0]], np.float32)
    soft = probabilities(z, "logits")
    assert soft.sum(1) == pytest.approx([1, 1]) and soft.argmax(1).tolist() == [0, 1]
    binary = probabilities(np.array([[0.0], [3.0], [-900.0]]), "logit")
    assert binary[:, 1] == pytest.approx([0.5, 1 / (1 + np.exp(-3)), 0.0]) and binary.sum(1) == pytest.approx([1, 1, 1])
    multi = probabilities(z, "sigmoid_logits")
    assert multi[0] == pytest.approx(1 / (1 + np.exp(-z[0].astype(float))))
    assert probabilities(np.log(soft[:1]), "log_probs") == pytest.approx(soft[:1])
    assert probabilities(z, "margins") is None


def test_margins_report_scores_not_probabilities():
    from dlcli.export.inputs import Samples
    from dlcli.export.metadata import ModelCard
    from dlcli.export.predict import classify

    card = ModelCard("0", "r", "", "classification", "margins", {}, {}, ["a", "b"])
    got = classify(card, np.array([[0.2, 1.5], [-1.0, -3.0]]), Samples(np.zeros((2, 1)), [0, 1], "row"))
    assert got == [{"row": 0, "label": "b", "score": 1.5, "scores": {"a": 0.2, "b": 1.5}},
                   {"row": 1, "label": "a", "score": -1.0, "scores": {"a": -1.0, "b": -3.0}}]


def test_terminal_table_shows_label_probability_and_classes(cli, iris_run, tmp_path):
    from rich.console import Console

    from dlcli.cli.predict import table
    from dlcli.export.predict import predict

    names, x, _ = iris_table()
    doc = predict(iris_run, write_csv(tmp_path / "few.csv", names, x[:3].tolist()))
    con = Console(record=True, width=160, file=io.StringIO())
    con.print(table(doc, 160))
    text = " ".join(con.export_text().split())
    assert "3 predictions" in text and "p(setosa)" in text and "probability" in text
    assert f"{doc['predictions'][0]['probability']:.4f}" in text


# --------------------------------------------------------------------------- models without cards


def test_onnx_without_dlcli_metadata_reports_raw_outputs(cli, digits_run, digits_csv, tmp_path):
    import onnx

    model = onnx.load(digits_run / "model.onnx")
    del model.metadata_props[:]
    onnx.save(model, tmp_path / "bare.onnx")
    r = cli("predict", tmp_path / "bare.onnx", digits_csv, "--json")
    doc = json.loads(r.out)
    assert r.code == 0 and doc["scores"] == "raw" and doc["task"] is None and "no dlcli metadata" in doc["note"]
    assert all(len(p["values"]) == 10 and "label" not in p for p in doc["predictions"])
    r = cli("predict", tmp_path / "bare.onnx", digits_csv)
    assert "no dlcli metadata" in " ".join(r.err.split()) and len(r.out.splitlines()[0].split("\t")) == 11


def test_fixed_batch_graph_is_fed_padded_batches(cli, digits_run, digits, tmp_path):
    import onnx

    model = onnx.load(digits_run / "model.onnx")
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 8
    onnx.save(model, tmp_path / "fixed.onnx")
    np.savez(tmp_path / "x.npz", x=digits[0][:13])
    fixed = predictions(cli("predict", tmp_path / "fixed.onnx", tmp_path / "x.npz", "--json"))
    dynamic = predictions(cli("predict", digits_run, tmp_path / "x.npz", "--json"))
    assert len(fixed) == 13 and [p["label"] for p in fixed] == [p["label"] for p in dynamic]


# ----------------------------------------------------------------------------------- bad input


def test_corrupt_or_foreign_onnx_exit_2_without_traceback(cli, digits_run, digits_csv, tmp_path):
    blob = (digits_run / "model.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "notes.onnx").write_text("these are not the weights you are looking for\n")
    for bad in ("cut.onnx", "notes.onnx"):
        r = cli("predict", tmp_path / bad, digits_csv)
        assert r.code == 2 and "Traceback" not in r.err + r.out
        assert f"cannot load {tmp_path / bad}" in " ".join(r.err.split())


def test_run_without_model_says_to_export(cli, digits_run, digits_csv, tmp_path):
    shutil.copytree(digits_run, tmp_path / "run", ignore=shutil.ignore_patterns("model.onnx"))
    r = cli("predict", tmp_path / "run", digits_csv)
    assert r.code == 2 and f"run `dlcli export {tmp_path / 'run'}` first" in " ".join(r.err.split())
    r = cli("predict", digits_run.parent, digits_csv)  # runs/NAME, not a run directory
    assert r.code == 2 and "is not a run directory" in " ".join(r.err.split())


@pytest.mark.parametrize("what", ["model", "input", "suffix", "out"])
def test_missing_files_and_bad_names_exit_2(cli, digits_run, digits_csv, tmp_path, what):
    args = {"model": (tmp_path / "nope.onnx", digits_csv), "input": (digits_run, tmp_path / "nope.csv"),
            "suffix": (digits_run, tmp_path / "x.parquet"),
            "out": (digits_run, digits_csv, "--out", tmp_path / "p.txt")}[what]
    (tmp_path / "x.parquet").write_text("")
    r = cli("predict", *args)
    expected = {"model": "model not found", "input": "input not found", "suffix": "cannot read",
                "out": "must end in .csv or .json"}
    assert r.code == 2 and expected[what] in " ".join(r.err.split()) and "Traceback" not in r.err


def test_help_has_an_example(cli):
    r = cli("predict", "--help")
    assert r.code == 0 and "Example: dlcli predict" in r.out


# -------------------------------------------------------------------------------- without torch


PREDICT = """
import json, sys
{prelude}
from dlcli.cli.app import main
sys.argv = ["dlcli", "predict", {model!r}, {data!r}, "--json"]
try:
    main()
except SystemExit as e:
    code = e.code or 0
else:
    code = 0
assert "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))[:5]
sys.exit(code)
"""
BLOCK_TORCH = """
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is not installed here (blocked by the test)")
sys.meta_path.insert(0, NoTorch())
try:
    import torch
except ImportError:
    pass
else:
    sys.exit("the blocker failed")
"""


def predict_in_subprocess(model: Path, data: Path, prelude: str = "") -> dict:
    code = PREDICT.format(prelude=prelude, model=str(model), data=str(data))
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_predict_never_imports_torch(digits_run, digits_csv, digits):
    doc = predict_in_subprocess(digits_run, digits_csv)
    assert np.mean([int(p["label"]) for p in doc["predictions"]] == digits[1]) > 0.9


def test_predict_works_where_torch_cannot_be_imported(image_run, root):
    doc = predict_in_subprocess(image_run, root / "shades", BLOCK_TORCH)
    assert doc["rows"] == 20 and {p["label"] for p in doc["predictions"]} <= {"bright", "dark"}
