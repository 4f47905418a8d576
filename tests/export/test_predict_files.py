"""dlcli predict on tables other tools write: numpy.savetxt in its delimiters and formats, with
and without a header, for models with and without feature names; and --out never replaces its input.

Two tiny runs are trained and exported once for the module: digits (no feature names: columns
go in by position) and iris (feature names: columns are matched by name).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, TINY
from tests.export.test_predict import train_and_export


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("files")


@pytest.fixture(scope="module")
def pixels():
    """Eight raw digits; the first has repeated values (zeros), which once read as 'non-unique column names'."""
    from sklearn.datasets import load_digits

    x = load_digits().data[:8]
    assert len(set(x[0])) < len(x[0])
    return x


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris

    d = load_iris()
    return [str(n) for n in d.feature_names], d.data[::10]  # 15 rows


def labels(r) -> list[str]:
    assert r.code == 0, r.err
    return [p["label"] for p in json.loads(r.out)["predictions"]]


def reference(cli, run: Path, x: np.ndarray, tmp_path: Path) -> list[str]:
    """The labels for x fed as an .npy array: no table parsing involved."""
    np.save(tmp_path / "ref.npy", x)
    return labels(cli("predict", run, tmp_path / "ref.npy", "--json"))


# ------------------------------------------------------------------------ models without names


def test_headerless_savetxt_predicts_every_row(cli, digits_run, pixels, tmp_path):
    """The reported bug: 4 rows gave 3 predictions, the first sample taken for a header."""
    np.savetxt(tmp_path / "four.csv", pixels[:4], delimiter=",")
    r = cli("predict", digits_run, tmp_path / "four.csv", "--json")
    doc = json.loads(r.out)
    assert r.code == 0, r.err
    assert doc["rows"] == 4 and [p["row"] for p in doc["predictions"]] == [0, 1, 2, 3]
    assert [p["label"] for p in doc["predictions"]] == reference(cli, digits_run, pixels[:4], tmp_path)


@pytest.mark.parametrize("delimiter,suffix", [(",", ".csv"), (" ", ".csv"), ("\t", ".tsv"), ("\t", ".csv")])
@pytest.mark.parametrize("fmt", ["%d", "%.18e"])
@pytest.mark.parametrize("header", ["none", "numpy", "plain"])
def test_numpy_savetxt_tables_all_read_alike(cli, digits_run, pixels, tmp_path, delimiter, suffix, fmt, header):
    names = delimiter.join(f"pixel_{i}" for i in range(64))
    kwargs = {"none": {}, "numpy": {"header": names}, "plain": {"header": names, "comments": ""}}[header]
    path = tmp_path / f"x{suffix}"
    np.savetxt(path, pixels, fmt=fmt, delimiter=delimiter, **kwargs)
    assert labels(cli("predict", digits_run, path, "--json")) == reference(cli, digits_run, pixels, tmp_path)


def test_txt_from_savetxt_defaults(cli, digits_run, pixels, tmp_path):
    np.savetxt(tmp_path / "x.txt", pixels)
    assert labels(cli("predict", digits_run, tmp_path / "x.txt", "--json")) == reference(cli, digits_run, pixels, tmp_path)


def test_pandas_position_header_is_a_header(cli, digits_run, pixels, tmp_path):
    """pandas.DataFrame(array).to_csv writes the column positions as names: 0,1,...,63 (and an
    empty cell first when the index is written, which is then one more numeric column)."""
    path = tmp_path / "frame.csv"
    path.write_text(",".join(map(str, range(64))) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in pixels))
    assert labels(cli("predict", digits_run, path, "--json")) == reference(cli, digits_run, pixels, tmp_path)


def test_ragged_row_names_the_line_and_the_dialect(cli, digits_run, pixels, tmp_path):
    path = tmp_path / "ragged.csv"
    np.savetxt(path, pixels, fmt="%d")
    with open(path, "a") as f:
        f.write("1 2 3\n")
    r = cli("predict", digits_run, path)
    err = " ".join(r.err.split())
    assert r.code == 2 and "Traceback" not in r.err
    assert "line 9: 3 fields but the first row has 64" in err and "whitespace-separated" in err


# --------------------------------------------------------------------------- models with names


def test_named_model_matches_a_savetxt_header_by_name(cli, iris_run, iris, tmp_path):
    names, x = iris
    order = [3, 1, 0, 2]
    np.savetxt(tmp_path / "named.csv", x, delimiter=",", header=",".join(names), comments="")
    np.savetxt(tmp_path / "hashed.csv", x[:, order], delimiter=",", header=",".join(names[i] for i in order))
    expected = reference(cli, iris_run, x, tmp_path)
    assert labels(cli("predict", iris_run, tmp_path / "named.csv", "--json")) == expected
    assert labels(cli("predict", iris_run, tmp_path / "hashed.csv", "--json")) == expected  # reordered, `# ` header


def test_numeric_feature_names_are_recognised_as_a_header(cli, root, iris, tmp_path):
    """A model trained on columns named by numbers (wavelengths, say): a first row holding all
    of them is its header, not a sample, and columns are still matched by name."""
    from sklearn.datasets import load_iris

    names = ["400", "410", "420", "430"]
    d = load_iris()
    np.savetxt(root / "spectra.csv", np.hstack([d.data, d.target[:, None]]), delimiter=",",
               header=",".join(names + ["label"]), comments="", fmt=["%.1f"] * 4 + ["%d"])
    run = train_and_export(root, "spectra", TINY.replace("source: iris", "source: {type: csv, path: spectra.csv, "
                                                         "target: label}"))
    x = iris[1]
    order = [2, 0, 3, 1]
    np.savetxt(tmp_path / "s.csv", x[:, order], delimiter=",", header=",".join(names[i] for i in order), comments="")
    r = cli("predict", run, tmp_path / "s.csv", "--json")
    doc = json.loads(r.out)
    assert r.code == 0, r.err
    assert doc["rows"] == len(x) and "note" not in doc
    assert [p["label"] for p in doc["predictions"]] == reference(cli, run, x, tmp_path)


def test_named_model_takes_a_headerless_table_by_position_and_says_so(cli, iris_run, iris, tmp_path):
    names, x = iris
    path = tmp_path / "bare.csv"
    np.savetxt(path, x, delimiter=",")
    r = cli("predict", iris_run, path, "--json")
    doc = json.loads(r.out)
    assert r.code == 0, r.err
    assert doc["rows"] == len(x) and [p["label"] for p in doc["predictions"]] == reference(cli, iris_run, x, tmp_path)
    assert "has no header row" in doc["note"] and "training order (sepal length (cm), " in doc["note"]
    r = cli("predict", iris_run, path)
    assert r.code == 0 and "note:" in r.err and "no header row" in " ".join(r.err.split())
    assert len(r.out.splitlines()) == len(x)  # stdout stays one line per sample


def test_named_model_refuses_a_headerless_table_of_another_width(cli, iris_run, iris, tmp_path):
    names, x = iris
    path = tmp_path / "wide.csv"
    np.savetxt(path, np.hstack([np.arange(len(x))[:, None], x]), delimiter=",")  # an id column in front
    r = cli("predict", iris_run, path)
    err = " ".join(r.err.split())
    assert r.code == 2 and "Traceback" not in r.err
    assert f"{path} has no header row" in err and "it has 5 columns, not 4" in err
    assert "add a header row naming the columns (sepal length (cm), sepal width (cm)" in err


def test_named_model_refuses_a_header_repeating_a_feature(cli, iris_run, iris, tmp_path):
    names, x = iris
    path = tmp_path / "twice.csv"
    np.savetxt(path, np.hstack([x, x[:, :1]]), delimiter=",", header=",".join(names + names[:1]), comments="")
    r = cli("predict", iris_run, path)
    assert r.code == 2 and "'sepal length (cm)' repeats" in " ".join(r.err.split())


# -------------------------------------------------------------------------------------- --out


def out_cases(path: Path, tmp_path: Path) -> list:
    link = tmp_path / "link.csv"
    link.symlink_to(path)
    hard = tmp_path / "hard.csv"
    os.link(path, hard)
    return [path, Path(os.path.relpath(path)), tmp_path / "sub" / ".." / path.name, link, hard]


def test_out_that_is_the_input_is_refused_and_the_input_kept(cli, digits_run, pixels, tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "in.csv"
    np.savetxt(path, pixels, delimiter=",")
    before = path.read_bytes()
    monkeypatch.chdir(tmp_path / "sub")
    for out in out_cases(path, tmp_path):
        r = cli("predict", digits_run, path, "--out", out)
        err = " ".join(r.err.split())
        assert r.code == 2 and "Traceback" not in r.err, out
        assert f"--out {out} names the same file as {path}" in err, out
    assert path.read_bytes() == before


def test_out_beside_the_input_still_works(cli, digits_run, pixels, tmp_path):
    path = tmp_path / "in.csv"
    np.savetxt(path, pixels, delimiter=",")
    r = cli("predict", digits_run, path, "--out", tmp_path / "in.predictions.csv")
    assert r.code == 0, r.err
    assert len((tmp_path / "in.predictions.csv").read_text().splitlines()) == 1 + len(pixels)


def test_predict_leaves_nothing_in_tmpdir(digits_run, pixels, tmp_path):
    """Importing ONNX Runtime writes a `.ses` file to the temp folder: predict does it in a private one."""
    np.savetxt(tmp_path / "x.csv", pixels, delimiter=",")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    p = subprocess.run([sys.executable, "-m", "dlcli", "predict", str(digits_run), str(tmp_path / "x.csv")],
                       cwd=ROOT, env={**os.environ, "TMPDIR": str(scratch)}, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == len(pixels) and os.listdir(scratch) == []
