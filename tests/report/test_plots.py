"""Figures: every PNG is written with its numbers beside it, the same input gives the same
bytes, and importing the module leaves matplotlib unloaded."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlcli.report import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1024
    assert b"Software" not in data and b"tIME" not in data  # no version or time to vary between runs


def gan_records() -> list[dict]:
    return [{"epoch": e, "train.d_loss": 1.0 / e, "train.g_loss": 0.5 + e, "lr": 2e-4, "samples_per_s": 900.0,
             "epoch_s": 1.5} for e in (1, 2, 3)]


def classifier_records() -> list[dict]:
    """val every other epoch, a confusion matrix and timing keys that are never plotted."""
    records = []
    for e in (1, 2, 3, 4):
        record = {"epoch": e, "train.loss": 2.0 / e, "lr": 0.1, "samples_per_s": 1e4}
        if e % 2 == 0:
            record.update({"val.loss": 2.5 / e, "val.accuracy": 0.2 * e, "val.confusion": [[1, 0], [0, 1]]})
        records.append(record)
    return records


def test_curves_gan_columns(tmp_path):
    written = plots.curves(gan_records(), tmp_path)
    assert written == [tmp_path / "curves.png", tmp_path / "curves.csv"]
    assert_png(written[0])
    table = rows(written[1])
    assert table[0] == ["epoch", "train.d_loss", "train.g_loss"]
    assert [[float(v) for v in row] for row in table[1:]] == [[e, 1.0 / e, 0.5 + e] for e in (1, 2, 3)]


def test_curves_pairs_train_with_val_and_leaves_gaps(tmp_path):
    records = classifier_records()
    records[1] = {"val.loss": records[1].pop("val.loss"), **records[1]}  # val before train in the line
    assert plots.curve_columns(records) == {"loss": ["train.loss", "val.loss"], "accuracy": ["val.accuracy"]}
    table = rows(plots.curves(records, tmp_path)[1])
    assert table[0] == ["epoch", "train.loss", "val.loss", "val.accuracy"]
    assert table[1] == ["1", "2.0", "", ""]
    assert table[2] == ["2", "1.0", "1.25", "0.4"]


def test_curves_keep_nan(tmp_path):
    records = [{"epoch": 1, "train.loss": 1.0}, {"epoch": 2, "train.loss": float("nan")}]
    assert rows(plots.curves(records, tmp_path)[1])[2] == ["2", "nan"]


def test_curves_with_nothing_to_plot(tmp_path):
    assert plots.curves([{"epoch": 1, "lr": 0.1}], tmp_path) == []
    assert plots.curves([], tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_image_grid_stats(tmp_path):
    images = np.linspace(-1.0, 3.0, 10 * 6 * 5).reshape(10, 1, 6, 5)
    written = plots.image_grid(images, tmp_path)
    assert written == [tmp_path / "samples.png", tmp_path / "samples.json"]
    assert_png(written[0])
    assert json.loads(written[1].read_text()) == {"shape": [10, 1, 6, 5], "min": -1.0, "max": 3.0, "labels": None}


def test_image_grid_labels_and_colour(tmp_path):
    labels = np.array([2, 0, 1, 0, 2, 2])
    rgb = np.random.default_rng(0).random((6, 3, 4, 4))
    written = plots.image_grid(rgb, tmp_path, name="digits", labels=labels)
    assert_png(written[0])
    stats = json.loads((tmp_path / "digits.json").read_text())
    assert stats["labels"] == [2, 0, 1, 0, 2, 2] and stats["shape"] == [6, 3, 4, 4]


def test_label_rows_and_mosaic():
    tiles = np.stack([np.full((2, 3), v) for v in (0.1, 0.2, 0.3, 0.4)])
    names, grouped = plots._label_rows(tiles, ["b", 1, "b", 0])
    assert names == [0, 1, "b"] and [len(r) for r in grouped] == [1, 1, 2]
    canvas = plots.mosaic(grouped)
    assert canvas.shape == (3 * 2 + 2 * plots.PAD, 2 * 3 + plots.PAD)
    assert canvas[0, 0] == 0.4 and canvas[3, 0] == 0.2 and canvas[6, 4] == 0.3
    assert canvas[2, 0] == 1.0 and canvas[0, 4] == 1.0  # padding, and the missing tile, are blank


def test_image_grid_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="C 1 or 3"):
        plots.image_grid(np.zeros((2, 2, 4, 4)), tmp_path)
    with pytest.raises(ValueError, match="3 labels for 2 images"):
        plots.image_grid(np.zeros((2, 4, 4)), tmp_path, labels=[0, 1, 2])
    with pytest.raises(ValueError, match="no images"):
        plots.image_grid(np.zeros((0, 1, 4, 4)), tmp_path)
    with pytest.raises(ValueError, match="plain file stem"):
        plots.image_grid(np.zeros((2, 4, 4)), tmp_path, name="../escape")


def test_reconstructions_mse(tmp_path):
    originals = np.zeros((13, 1, 4, 4))
    reconstructed = originals + np.arange(13.0)[:, None, None, None]
    written = plots.reconstructions(originals, reconstructed, tmp_path)
    assert written == [tmp_path / "reconstructions.png", tmp_path / "reconstructions.json"]
    assert_png(written[0])
    stats = json.loads(written[1].read_text())
    assert stats["mse"] == [float(i * i) for i in range(13)]
    assert stats["mean_mse"] == pytest.approx(np.mean(np.arange(13.0) ** 2))
    assert (stats["min"], stats["max"]) == (0.0, 12.0)
    with pytest.raises(ValueError, match="differ in shape"):
        plots.reconstructions(originals, reconstructed[:3], tmp_path)


def test_points_csv(tmp_path):
    rng = np.random.default_rng(1)
    generated, real = rng.normal(size=(50, 2)), rng.normal(size=(80, 2))
    written = plots.points(generated, real, tmp_path, modes=np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert written == [tmp_path / "samples.png", tmp_path / "samples.csv"]
    assert_png(written[0])
    table = rows(written[1])
    assert table[0] == ["x", "y"]
    np.testing.assert_array_equal(np.array(table[1:], dtype=float), generated)  # exact round trip
    with pytest.raises(ValueError, match=r"real must be \(N, 2\)"):
        plots.points(generated, np.zeros((3, 3)), tmp_path)


@pytest.mark.parametrize("labels", [np.array([3, 1, 3, 0, 1, 12]), None])
def test_latent_scatter_csv(tmp_path, labels):
    z = np.arange(12.0).reshape(6, 2) / 4
    written = plots.latent_scatter(z, labels, tmp_path)
    assert written == [tmp_path / "latent.png", tmp_path / "latent.csv"]
    assert_png(written[0])
    table = rows(written[1])
    assert table[0] == ["z1", "z2", "label"]
    assert [[float(a), float(b)] for a, b, _ in table[1:]] == z.tolist()
    assert [c for *_, c in table[1:]] == (["3", "1", "3", "0", "1", "12"] if labels is not None else [""] * 6)


CALLS = {
    "curves": lambda folder: plots.curves(classifier_records(), folder),
    "image_grid": lambda folder: plots.image_grid(np.random.default_rng(0).random((9, 5, 5)), folder,
                                                  labels=[0, 1, 2] * 3),
    "reconstructions": lambda folder: plots.reconstructions(np.zeros((4, 5, 5)), np.ones((4, 5, 5)), folder),
    "points": lambda folder: plots.points(np.eye(2), np.ones((3, 2)), folder, modes=np.zeros((1, 2))),
    "latent_scatter": lambda folder: plots.latent_scatter(np.eye(2), ["a", "b"], folder),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_same_bytes_on_repeat_and_no_litter(tmp_path, name):
    import matplotlib.pyplot as plt

    first = CALLS[name](tmp_path / "a")
    second = CALLS[name](tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in first)  # no temp files
    assert plt.get_fignums() == []  # every figure closed


def test_import_leaves_matplotlib_unloaded():
    code = "import sys, dlcli.report.plots; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_failing_draw_closes_its_figure(tmp_path, monkeypatch):
    import matplotlib.axes
    import matplotlib.pyplot as plt

    def boom(*args, **kwargs):
        raise RuntimeError("legend failed")

    monkeypatch.setattr(matplotlib.axes.Axes, "legend", boom)
    with pytest.raises(RuntimeError, match="legend failed"):
        plots.points(np.eye(2), np.ones((3, 2)), tmp_path)
    assert plt.get_fignums() == [] and list(tmp_path.iterdir()) == []
