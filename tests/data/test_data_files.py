"""csv, npz and image_folder: what they read, what they infer, and how they fail."""
from __future__ import annotations

import numpy as np
import pytest

import dlcli.data  # noqa: F401
from dlcli.data.base import SourceError, sources


def csv_source(tmp_path, **args):
    src = sources.get("csv")()
    a = src.Args(**{"path": "t.csv", **args})
    return src, a


# --------------------------------------------------------------------------------------- csv


def test_csv_categorical_target_maps_to_sorted_indices(tmp_path, csv_writer):
    csv_writer(tmp_path / "t.csv", ["x1", "x2", "kind"], [[1, 2, "b"], [3, 4, "a"], [5, 6, "c"], [7, 8, "a"]])
    src, a = csv_source(tmp_path, target="kind")
    data = src.load(a, tmp_path)
    assert data.info.classes == ["a", "b", "c"] and data.info.labels == "classes"
    assert data.y.tolist() == [1, 0, 2, 0]
    assert data.extra["label_mapping"] == {"a": 0, "b": 1, "c": 2}
    assert data.info.feature_names == ["x1", "x2"] and data.x.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]]


@pytest.mark.parametrize("values, labels, classes", [
    ([3, 1, 2, 1, 3], "classes", ["1", "2", "3"]),
    ([0.0, 1.0, 1.0, 0.0, 1.0], "classes", ["0", "1"]),
    ([0.5, 1.25, 2.0, 3.5, 0.1], "values", None),
    (list(range(25)), "values", None),  # integers, but too many distinct values for labels
])
def test_csv_label_kind_inference(tmp_path, csv_writer, values, labels, classes):
    csv_writer(tmp_path / "t.csv", ["f", "target"], [[i, v] for i, v in enumerate(values)])
    src, a = csv_source(tmp_path, target="target")
    data = src.load(a, tmp_path)
    assert (data.info.labels, data.info.classes) == (labels, classes)
    if labels == "values":
        assert data.y.dtype == np.float32 and data.y[:, 0].tolist() == pytest.approx(values)
        assert data.info.targets == 1


def test_csv_integral_target_is_classes_unless_read_as_values(tmp_path, csv_writer):
    csv_writer(tmp_path / "t.csv", ["f", "t"], [[i, i % 3] for i in range(9)])
    src, a = csv_source(tmp_path, target="t")
    info = src.info(a, tmp_path)
    assert (info.labels, info.classes, info.class_counts, info.targets) == ("classes", ["0", "1", "2"], [3, 3, 3], None)
    assert src.load(a, tmp_path, labels="classes").y.tolist() == [i % 3 for i in range(9)]
    data = src.load(a, tmp_path, labels="values")
    assert (data.info.labels, data.info.classes, data.info.class_counts, data.info.targets) == ("values", None, None, 1)
    assert data.y.dtype == np.float32 and data.y[:, 0].tolist() == [i % 3 for i in range(9)]


def test_csv_string_target_cannot_be_read_as_values(tmp_path, csv_writer):
    csv_writer(tmp_path / "t.csv", ["f", "t"], [[1, "1.5"], [2, "big"]])
    src, a = csv_source(tmp_path, target="t")
    with pytest.raises(SourceError) as e:
        src.info(a, tmp_path, labels="values")
    msg = str(e.value)
    assert e.value.key == "target" and "'big'" in msg and "line 3" in msg and "read as values" in msg


def test_csv_bad_feature_value_names_column_value_and_line(tmp_path, csv_writer):
    csv_writer(tmp_path / "t.csv", ["a", "colour", "y"], [[1, 2, 0], [2, 3, 1], [3, "red", 0], [4, 5, 1]])
    src, a = csv_source(tmp_path, target="y")
    with pytest.raises(SourceError) as e:
        src.load(a, tmp_path)
    msg = str(e.value)
    assert e.value.key == "features" and "'colour'" in msg and "'red'" in msg and "line 4" in msg
    assert src.load(src.Args(path="t.csv", target="y", features=["a"]), tmp_path).x.shape == (4, 1)


def test_csv_missing_file_names_absolute_path(tmp_path):
    src, a = csv_source(tmp_path, path="nowhere/t.csv", target="y")
    with pytest.raises(SourceError) as e:
        src.info(a, tmp_path)
    assert e.value.key == "path" and str((tmp_path / "nowhere" / "t.csv").resolve()) in str(e.value)


def test_csv_misspelled_target_suggests_nearest_column(tmp_path, csv_writer):
    csv_writer(tmp_path / "t.csv", ["width", "height", "label"], [[1, 2, "a"], [2, 3, "b"]])
    src, a = csv_source(tmp_path, target="lable")
    with pytest.raises(SourceError) as e:
        src.info(a, tmp_path)
    assert e.value.key == "target" and "did you mean 'label'" in str(e.value)
    src, a = csv_source(tmp_path, target="label", features=["width", "hieght"])
    with pytest.raises(SourceError) as e:
        src.info(a, tmp_path)
    assert e.value.key == "features" and "did you mean 'height'" in str(e.value)


def test_csv_delimiter_blank_lines_and_ragged_rows(tmp_path, csv_writer):
    csv_writer(tmp_path / "t.csv", ["a", "b", "y"], [[1, 2, 0], [], [3, 4, 1]], delimiter=";")
    src, a = csv_source(tmp_path, target="y", delimiter=";")
    assert src.load(a, tmp_path).x.shape == (2, 2)
    csv_writer(tmp_path / "t.csv", ["a", "b", "y"], [[1, 2, 0], [3, 1]])
    src, a = csv_source(tmp_path, target="y")
    with pytest.raises(SourceError, match="line 3: 2 fields but the header has 3"):
        src.info(a, tmp_path)


def test_csv_empty_target_cell(tmp_path, csv_writer):
    csv_writer(tmp_path / "t.csv", ["a", "y"], [[1, 0], [2, ""]])
    src, a = csv_source(tmp_path, target="y")
    with pytest.raises(SourceError, match="empty on line 3"):
        src.info(a, tmp_path)


# --------------------------------------------------------------------------------------- npz


def test_npz_missing_array_suggests_nearest(tmp_path):
    np.savez(tmp_path / "d.npz", inputs=np.zeros((4, 2)), labels=np.arange(4))
    src = sources.get("npz")()
    with pytest.raises(SourceError) as e:
        src.info(src.Args(path="d.npz", x="inputs", y="label"), tmp_path)
    assert e.value.key == "y" and "did you mean 'labels'" in str(e.value)
    with pytest.raises(SourceError) as e:
        src.info(src.Args(path="d.npz"), tmp_path)
    assert e.value.key == "x" and "inputs, labels" in str(e.value)


def test_npz_without_targets_has_no_labels(tmp_path):
    x = np.random.default_rng(0).normal(size=(7, 3))
    np.savez(tmp_path / "d.npz", x=x)
    src = sources.get("npz")()
    info, data = src.info(src.Args(path="d.npz"), tmp_path), src.load(src.Args(path="d.npz"), tmp_path)
    assert (info.labels, info.classes, info.targets, info.outputs, info.samples) == (None, None, None, None, 7)
    assert data.info == info and data.extra == {}
    assert data.y.shape == (7, 0) and data.y.dtype == np.float32
    np.testing.assert_allclose(data.x, x.astype(np.float32))


def test_npz_own_split_without_targets_has_no_labels(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.ones((5, 2)), x_test=np.zeros((3, 2)))
    src = sources.get("npz")()
    data = src.load(src.Args(path="d.npz"), tmp_path)
    assert data.info.labels is None and data.y.shape == (8, 0)
    assert data.info.given == {"train": 5, "val": 0, "test": 3} and data.given["test"].tolist() == [5, 6, 7]


def test_npz_targets_asked_for_but_missing_are_named(tmp_path):
    """No labels is a reading only when nobody asked for them: a named `y`, or a hint, is a promise."""
    np.savez(tmp_path / "d.npz", x=np.ones((4, 2)), lables=np.arange(4))
    src = sources.get("npz")()
    for a, hint in ((src.Args(path="d.npz", y="labels"), None), (src.Args(path="d.npz"), "classes"),
                    (src.Args(path="d.npz"), "values")):
        with pytest.raises(SourceError) as e:
            src.info(a, tmp_path, labels=hint)
        assert e.value.key == "y" and "no array" in str(e.value), hint
    assert src.info(src.Args(path="d.npz"), tmp_path).labels is None


@pytest.mark.parametrize("hint, labels, y", [(None, "classes", [0, 1, 2, 0]), ("classes", "classes", [0, 1, 2, 0]),
                                             ("values", "values", [[1.0], [2.0], [3.0], [1.0]])])
def test_npz_integer_targets_read_as_the_hint_says(tmp_path, hint, labels, y):
    np.savez(tmp_path / "d.npz", x=np.ones((4, 2)), y=np.array([1, 2, 3, 1]))
    src = sources.get("npz")()
    data = src.load(src.Args(path="d.npz"), tmp_path, labels=hint)
    assert data.info.labels == labels and data.y.tolist() == y


def test_npz_fractional_targets_are_not_class_labels(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.ones((3, 2)), y=np.array([0.5, 1.0, 2.0]))
    src = sources.get("npz")()
    assert src.info(src.Args(path="d.npz"), tmp_path).labels == "values"
    with pytest.raises(SourceError, match="read as class labels") as e:
        src.info(src.Args(path="d.npz"), tmp_path, labels="classes")
    assert e.value.key == "y"


def test_npz_info_reads_only_the_header_of_x(tmp_path, monkeypatch):
    np.savez(tmp_path / "d.npz", x=np.zeros((6, 3, 4, 5), np.float32), y=np.arange(6) % 2)
    read = []
    original = np.lib.format.read_array

    def spy(fp, *args, **kwargs):
        arr = original(fp, *args, **kwargs)
        read.append(arr.shape)
        return arr

    monkeypatch.setattr(np.lib.format, "read_array", spy)
    src = sources.get("npz")()
    info = src.info(src.Args(path="d.npz"), tmp_path)
    assert info.input_shape == (3, 4, 5) and info.layout == "image" and info.classes == ["0", "1"]
    assert (6, 3, 4, 5) not in read


@pytest.mark.parametrize("shape, layout, expected, stated", [
    ((5, 7), None, (7,), "tabular"),
    ((5, 6, 2), None, (6, 2), "sequence"),
    ((5, 1, 4, 4), None, (1, 4, 4), "image"),
    ((5, 4, 4), "image", (1, 4, 4), "image"),
    ((5, 2, 3), "tabular", (6,), "tabular"),
    ((5, 6), "sequence", (6, 1), "sequence"),
])
def test_npz_layout(tmp_path, shape, layout, expected, stated):
    np.savez(tmp_path / "d.npz", x=np.ones(shape, np.float64), y=np.linspace(0, 1, 5))
    src = sources.get("npz")()
    data = src.load(src.Args(path="d.npz", layout=layout), tmp_path)
    assert (data.info.input_shape, data.info.layout) == (expected, stated)
    assert data.x.shape == (5,) + expected and data.x.dtype == np.float32
    assert data.info.labels == "values" and data.y.shape == (5, 1)


def test_npz_shape_that_fits_no_layout(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.ones(5), y=np.arange(5))
    src = sources.get("npz")()
    with pytest.raises(SourceError) as e:
        src.info(src.Args(path="d.npz"), tmp_path)
    assert e.value.key == "x"
    with pytest.raises(SourceError) as e:
        np.savez(tmp_path / "d.npz", x=np.ones((5, 2, 2, 2, 2)), y=np.arange(5))
        src.info(src.Args(path="d.npz", layout="image"), tmp_path)
    assert e.value.key == "layout"


def test_npz_labels_and_length_mismatch(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.ones((4, 2)), y=np.array(["b", "a", "b", "c"]))
    src = sources.get("npz")()
    data = src.load(src.Args(path="d.npz"), tmp_path)
    assert data.info.classes == ["a", "b", "c"] and data.y.tolist() == [1, 0, 1, 2]
    np.savez(tmp_path / "d.npz", x=np.ones((4, 2)), y=np.arange(3))
    with pytest.raises(SourceError) as e:
        src.info(src.Args(path="d.npz"), tmp_path)
    assert e.value.key == "y"


def test_npz_refuses_pickled_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.ones((2, 2)), y=np.array([{"a": 1}, None], dtype=object))
    src = sources.get("npz")()
    with pytest.raises(SourceError) as e:
        src.info(src.Args(path="d.npz"), tmp_path)
    assert e.value.key == "y"


# ------------------------------------------------------------------------------ image folder


def test_image_folder_shapes_classes_and_range(tmp_path, png_writer):
    png_writer(tmp_path / "imgs", {"zebra": 2, "ant": 3})
    src = sources.get("image_folder")()
    data = src.load(src.Args(path="imgs", size=[6, 4], mode="grayscale"), tmp_path)
    assert data.info.classes == ["ant", "zebra"] and data.y.tolist() == [0, 0, 0, 1, 1]
    assert data.x.shape == (5, 1, 6, 4) and data.x.dtype == np.float32
    assert 0 <= data.x.min() and data.x.max() <= 255 and data.x.max() > 1


def test_image_folder_cache_is_reused(tmp_path, png_writer, monkeypatch, private_cache):
    import PIL.Image

    png_writer(tmp_path / "imgs", {"a": 2, "b": 2})
    src = sources.get("image_folder")()
    a = src.Args(path="imgs", size=[8, 8])
    first = src.load(a, tmp_path)
    assert list((private_cache / "images").glob("*.npz"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("the second load decoded an image instead of reading the cache")

    monkeypatch.setattr(PIL.Image, "open", no_decoding)
    assert np.array_equal(src.load(a, tmp_path).x, first.x)
    with pytest.raises(AssertionError):  # another size is another cache entry
        src.load(src.Args(path="imgs", size=[4, 4]), tmp_path)


def test_npz_writer_goes_through_fsio_and_round_trips(tmp_path, monkeypatch):
    from dlcli import fsio
    from dlcli.data.files import write_atomic

    calls, real = [], fsio.write_atomic

    def spy(path, data):
        calls.append((path, type(data)))
        real(path, data)

    monkeypatch.setattr(fsio, "write_atomic", spy)
    x, y = np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.array([1.5, -2.0])
    write_atomic(tmp_path / "sub" / "a.npz", x=x, y=y)
    assert calls == [(tmp_path / "sub" / "a.npz", bytes)]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.npz"]  # no temp file left behind
    with np.load(tmp_path / "sub" / "a.npz", allow_pickle=False) as archive:
        assert archive["x"].dtype == np.uint8 and np.array_equal(archive["x"], x) and np.array_equal(archive["y"], y)


def test_image_cache_is_written_through_fsio(tmp_path, png_writer, monkeypatch, private_cache):
    from dlcli import fsio

    calls, real = [], fsio.write_atomic
    monkeypatch.setattr(fsio, "write_atomic", lambda path, data: (calls.append(path), real(path, data)))
    png_writer(tmp_path / "imgs", {"a": 2, "b": 1})
    src = sources.get("image_folder")()
    data = src.load(src.Args(path="imgs", size=[5, 5]), tmp_path)
    (cache,) = (private_cache / "images").glob("*.npz")
    assert calls == [cache]
    with np.load(cache, allow_pickle=False) as archive:
        assert archive["x"].dtype == np.uint8 and np.array_equal(archive["x"], data.x)


def test_an_unwritable_image_cache_only_warns(tmp_path, png_writer, monkeypatch):
    from dlcli import fsio

    def full(path, data):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(fsio, "write_atomic", full)
    png_writer(tmp_path / "imgs", {"a": 1, "b": 1})
    src = sources.get("image_folder")()
    with pytest.warns(UserWarning, match="could not cache"):
        assert src.load(src.Args(path="imgs", size=[4, 4]), tmp_path).x.shape == (2, 3, 4, 4)


def test_image_folder_corrupt_image_names_the_file(tmp_path, png_writer):
    png_writer(tmp_path / "imgs", {"a": 2, "b": 1})
    (tmp_path / "imgs" / "b" / "broken.png").write_bytes(b"this is not a png")
    src = sources.get("image_folder")()
    with pytest.raises(SourceError) as e:
        src.load(src.Args(path="imgs"), tmp_path)
    assert e.value.key == "path" and "broken.png" in str(e.value)


def test_image_folder_needs_class_folders_with_images(tmp_path, png_writer):
    src = sources.get("image_folder")()
    (tmp_path / "flat").mkdir()
    with pytest.raises(SourceError, match="no subfolders"):
        src.info(src.Args(path="flat"), tmp_path)
    png_writer(tmp_path / "imgs", {"a": 1})
    (tmp_path / "imgs" / "empty").mkdir()
    with pytest.raises(SourceError, match="has no images"):
        src.info(src.Args(path="imgs"), tmp_path)
    with pytest.raises(SourceError, match="folder not found"):
        src.info(src.Args(path="missing"), tmp_path)
