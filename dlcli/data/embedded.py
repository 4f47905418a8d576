"""scikit-learn's embedded datasets read straight from the files it ships, with numpy alone.

`import sklearn.datasets` costs most of a second (SciPy comes with it) for five small tables that
sit in sklearn/datasets/data/ as plain CSV. The package is found with importlib.util.find_spec,
which locates it without running it, and each file is parsed the way scikit-learn's own loaders
parse it, so the arrays are bit for bit theirs (tests/data/test_builtin_files.py compares them).
Anything missing or unreadable falls back to scikit-learn's loader.
"""
from __future__ import annotations

import csv
import gzip
import importlib.util
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np


@dataclass
class Table:
    """What a scikit-learn loader returns that dlcli uses: a Bunch's data, target and names."""

    data: np.ndarray  # (N, F) float64
    target: np.ndarray  # (N,) int class labels, or float64 values
    target_names: Optional[list[str]] = None
    feature_names: Optional[list[str]] = None


def data_folder() -> Optional[Path]:
    """sklearn/datasets/data of the installed scikit-learn, without importing it; None if absent."""
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    return next((Path(r) / "datasets" / "data" for r in roots if (Path(r) / "datasets" / "data").is_dir()), None)


def labelled_csv(path: Path) -> Table:
    """sklearn's load_csv_data: a first row `n_samples, n_features, class names...`, then rows of
    features with an integer label last."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        head = next(rows)
        n, k = int(head[0]), int(head[1])
        data, target = np.empty((n, k)), np.empty((n,), dtype=int)
        count = 0
        for i, row in enumerate(rows):
            data[i] = np.asarray(row[:-1], dtype=np.float64)
            target[i] = np.asarray(row[-1], dtype=int)
            count = i + 1
    if count != n:
        raise ValueError(f"{path} has {count} rows, its header says {n}")
    return Table(data, target, [str(c) for c in head[2:]])


def gzip_table(path: Path, delimiter: Optional[str] = None) -> np.ndarray:
    """sklearn's load_gzip_compressed_csv_data: np.loadtxt over the decompressed text."""
    with gzip.open(path, mode="rt", encoding="utf-8") as f:
        return np.loadtxt(f, delimiter=delimiter)


def standardise(x: np.ndarray) -> np.ndarray:
    """sklearn.preprocessing.scale(x) then / sqrt(N), step for step, as load_diabetes(scaled=True) does:
    centre, re-centre when float error left a mean, divide by the std (1 for a constant column),
    re-centre again when that drifted."""
    mean, std = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    x -= mean
    drift = np.nanmean(x, axis=0)
    if not np.allclose(drift, 0):
        x -= drift
    x /= np.where(std < 10 * np.finfo(std.dtype).eps, 1.0, std)
    drift = np.nanmean(x, axis=0)
    if not np.allclose(drift, 0):
        x -= drift
    x /= x.shape[0] ** 0.5
    return x


def digits(folder: Path) -> Table:
    data = gzip_table(folder / "digits.csv.gz", delimiter=",")
    names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return Table(data[:, :-1], data[:, -1].astype(int, copy=False), [str(i) for i in range(10)], names)


def diabetes(folder: Path) -> Table:
    data = standardise(gzip_table(folder / "diabetes_data_raw.csv.gz"))
    target = gzip_table(folder / "diabetes_target.csv.gz")
    return Table(data, target, None, ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"])


CSV_FILES = {"iris": "iris.csv", "wine": "wine_data.csv", "breast_cancer": "breast_cancer.csv"}


def from_files(loader: str, folder: Path, features: Optional[list[str]]) -> Table:
    if loader == "digits":
        return digits(folder)
    if loader == "diabetes":
        return diabetes(folder)
    table = labelled_csv(folder / CSV_FILES[loader])
    table.feature_names = list(features or [])  # the plain CSV files carry no column names
    return table


def read(loader: str, features: Optional[list[str]] = None) -> Table:
    """The dataset scikit-learn's `load_<loader>()` returns; `features` names the columns of
    iris, wine and breast_cancer. Falls back to scikit-learn when its files cannot be read."""
    folder = data_folder()
    if folder is not None and (loader in CSV_FILES or loader in ("digits", "diabetes")):
        try:
            return from_files(loader, folder, features)
        except (OSError, EOFError, ValueError, IndexError, zlib.error, csv.Error):
            pass  # a damaged or unexpected install: scikit-learn's loader says what is wrong
    return from_sklearn(loader)


def from_sklearn(loader: str) -> Table:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{loader}")()
    names = getattr(bunch, "target_names", None)
    return Table(np.asarray(bunch.data), np.asarray(bunch.target),
                 None if names is None else [str(c) for c in names], [str(f) for f in bunch.feature_names])
