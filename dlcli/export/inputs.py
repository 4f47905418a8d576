"""What `dlcli predict` feeds the model: INPUT read into float32 (N, *input shape).

INPUT is a .csv/.tsv (header row), an .npz/.npy array, an image file or a folder of images.
Images are decoded by the image_folder source's own decoder, so a file predicts exactly as it
trained. numpy, Pillow and the data readers only: no torch, so predict runs on ONNX Runtime alone.
Every problem with the input is a UsageError (exit 2) saying what was expected and what was found.
"""
from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from dlcli.data.base import SourceError
from dlcli.data.files import ImageFolderArgs, Table, decode_images, numeric_cells, parse_numbers, read_table
from dlcli.errors import UsageError
from dlcli.registry import closest

IMAGE_EXTENSIONS = tuple(ImageFolderArgs.model_fields["extensions"].default)
TABLES = {".csv": ",", ".tsv": "\t"}


@dataclass
class InputSpec:
    """What the model takes per sample: from its ModelCard, or from the graph when it has none."""

    shape: tuple  # per sample, e.g. (64,) for digits' raw pixels or (1, 8, 8)
    feature_names: Optional[list[str]] = None  # tabular: columns are matched by these names
    image: Optional[dict] = None  # {"size": [h, w], "mode": "grayscale" | "rgb"} for image models

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def shown(self) -> str:
        return "(N, " + ", ".join(map(str, self.shape)) + ")"


@dataclass
class Samples:
    """The model's input and what names each sample in the output: a row number or a file name."""

    x: np.ndarray  # (N, *spec.shape) float32
    keys: list
    key: str  # "row" or "file"


def read_input(path: Path, spec: InputSpec) -> Samples:
    """Dispatch on what INPUT is; a folder is always a folder of images."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"input not found: {path}")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in IMAGE_EXTENSIONS:
        samples = read_images(path, spec)
    elif suffix in TABLES:
        samples = read_csv(path, spec)
    elif suffix in (".npz", ".npy"):
        x = per_sample(load_array(path), spec, path)
        samples = Samples(x, list(range(len(x))), "row")
    else:
        raise UsageError(f"cannot read {path}: expected a .csv or .tsv file (with a header row), an .npz or .npy "
                         f"array, an image ({', '.join(IMAGE_EXTENSIONS)}) or a folder of images")
    if not len(samples.x):
        raise UsageError(f"{path} holds no samples")
    return samples


# --------------------------------------------------------------------------------------- csv


def read_csv(path: Path, spec: InputSpec) -> Samples:
    try:
        t = read_table(path, TABLES[path.suffix.lower()])
    except SourceError as e:  # the training reader's messages already say what is wrong and where
        raise UsageError(str(e)) from None
    cols = named_columns(t, spec.feature_names) if spec.feature_names else numeric_columns(t, spec.size)
    x = csv_values(t, cols)
    return Samples(x.reshape((len(x),) + tuple(spec.shape)), list(range(len(x))), "row")


def named_columns(t: Table, names: list[str]) -> list[int]:
    """Columns matched by name, so their order and extra columns (an id, the target) do not matter.

    No positional fallback: a table whose header lacks the names may hold the right number of
    columns in another order, and a silently wrong prediction is worse than an error."""
    missing = [n for n in names if n not in t.header]
    if missing:
        spare = [h for h in t.header if h not in names]  # only suggest a column that is not already used
        hints = [f"'{n}'" + (f" (did you mean '{near[0]}'?)" if (near := closest(n, spare)) else "") for n in missing]
        raise UsageError(f"{t.path} lacks {len(missing)} of the model's {len(names)} feature columns: "
                         f"{', '.join(hints)}; its columns are: {', '.join(map(repr, t.header))}")
    return [t.header.index(n) for n in names]


def numeric_columns(t: Table, size: int) -> list[int]:
    """Without feature names values go in by position. A column with no number in it (a file
    name, a string label) is not a feature and is skipped; every other column counts."""
    cols = [c for c in range(len(t.header)) if any(parse_numbers([row[c]]) is not None for row in t.rows)]
    if len(cols) != size:
        raise UsageError(f"{t.path}: expected {size} values per row, got {len(cols)} (numeric columns in order, "
                         "as the model has no feature names; drop other numeric columns such as an id or the target)")
    return cols


def csv_values(t: Table, cols: list[int]) -> np.ndarray:
    """The chosen columns as float32 (N, F); the first cell that is not a finite number is named."""
    x, bad = numeric_cells(t, cols)
    if bad is None:
        return x
    i, line, c = bad
    raise UsageError(f"{t.path}, row {i} (line {line}), column '{t.header[c]}': {t.rows[i][c]!r} is not a finite number")


# ---------------------------------------------------------------------------------- npz, npy


def load_array(path: Path) -> np.ndarray:
    """An .npy's array, or an .npz's array `x` (or its only array). Never unpickles: pickle runs code."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:
            names = list(loaded.files)
            name = "x" if "x" in names else (names[0] if len(names) == 1 else None)
            if name is None:
                raise UsageError(f"{path} holds arrays {', '.join(map(repr, names)) or '(none)'}; "
                                 "predict reads the one named 'x', or the only one")
            return loaded[name]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise UsageError(f"cannot read {path} as a numpy array: {e}") from None


def per_sample(x: np.ndarray, spec: InputSpec, path: Path) -> np.ndarray:
    """(N, *shape) from any array whose samples hold exactly the model's number of values, so
    digits come as (N, 64) or as (N, 1, 8, 8); one sample may come without its batch axis."""
    if x.dtype.kind not in "biuf":
        raise UsageError(f"{path}: expected a numeric array, got dtype {x.dtype}")
    if tuple(x.shape) == tuple(spec.shape) or (x.ndim == 1 and spec.size == 1):
        x = x.reshape(-1, *spec.shape)
    if x.ndim < 2 or math.prod(x.shape[1:]) != spec.size:
        raise UsageError(f"{path}: expected shape {spec.shown()} ({spec.size} values per sample), "
                         f"got {tuple(x.shape)} ({math.prod(x.shape[1:]) if x.ndim >= 2 else 1} per sample)")
    x = x.reshape((len(x),) + tuple(spec.shape)).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
    if len(bad):
        raise UsageError(f"{path}: sample {bad[0]} holds NaN or infinite values ({len(bad)} samples do)")
    return x


# ------------------------------------------------------------------------------------ images


def image_list(path: Path) -> tuple[list[Path], list[str]]:
    """The files to decode and the name each is reported under (relative to a folder)."""
    if path.is_file():
        return [path], [path.name]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise UsageError(f"{path} holds no images ending in {', '.join(IMAGE_EXTENSIONS)}")
    return files, [p.relative_to(path).as_posix() for p in files]


def read_images(path: Path, spec: InputSpec) -> Samples:
    """Decoded, converted and resized by the image_folder source's decoder, as float32 0..255."""
    if not spec.image:
        raise UsageError(f"this model was not trained on image files (it takes {spec.shown()} values); "
                         "give a .csv or .npz file")
    files, names = image_list(path)
    args = ImageFolderArgs(path=str(path), size=tuple(spec.image["size"]), mode=spec.image["mode"])
    try:
        x = decode_images([(0, p) for p in files], args)
    except SourceError as e:
        raise UsageError(str(e)) from None
    if math.prod(x.shape[1:]) != spec.size:
        raise UsageError(f"decoded images are {x.shape[1:]}, but the model takes {spec.shown()}")
    return Samples(x.astype(np.float32).reshape((len(x),) + tuple(spec.shape)), names, "file")
