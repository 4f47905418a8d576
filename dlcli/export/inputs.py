"""What `dlcli predict` feeds the model: INPUT read into float32 (N, *input shape).

INPUT is a .csv/.tsv/.txt table (any delimiter, with or without a header row: see dlcli.data.sniff),
an .npz/.npy array, an image file or a folder of images.
Images are decoded by the image_folder source's own decoder, so a file predicts exactly as it
trained. numpy, Pillow and the data readers only: no torch, so predict runs on ONNX Runtime alone.
Every problem with the input is a UsageError (exit 2) saying what was expected and what was found.
"""
from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from dlcli.data.base import SourceError
from dlcli.data.files import ImageFolderArgs, decode_images, numeric_cells, parse_numbers
from dlcli.data.sniff import Sheet, read_sheet
from dlcli.errors import UsageError
from dlcli.registry import closest

IMAGE_EXTENSIONS = tuple(ImageFolderArgs.model_fields["extensions"].default)
TABLES = {".csv": ",", ".tsv": "\t", ".txt": None}  # suffix -> the delimiter tried first (None: whitespace)


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
    notes: list[str] = field(default_factory=list)  # how the input was read, where the user should know


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
        raise UsageError(f"cannot read {path}: expected a .csv, .tsv or .txt table, an .npz or .npy "
                         f"array, an image ({', '.join(IMAGE_EXTENSIONS)}) or a folder of images")
    if not len(samples.x):
        raise UsageError(f"{path} holds no samples")
    return samples


# --------------------------------------------------------------------------------------- csv


def read_csv(path: Path, spec: InputSpec) -> Samples:
    """Any delimiter, with or without a header row (dlcli.data.sniff decides which)."""
    try:
        t = read_sheet(path, TABLES[path.suffix.lower()], spec.feature_names or ())
    except SourceError as e:  # the reader's messages already say what is wrong and where
        raise UsageError(str(e)) from None
    notes: list[str] = []
    if spec.feature_names and t.header is None:
        cols = positional_columns(t, spec.feature_names)
        notes.append(f"{path} has no header row: its {len(cols)} columns were taken as the model's features "
                     f"in training order ({', '.join(spec.feature_names)})")
    elif spec.feature_names:
        cols = named_columns(t, spec.feature_names)
    else:
        cols = numeric_columns(t, spec.size)
    x = csv_values(t, cols)
    return Samples(x.reshape((len(x),) + tuple(spec.shape)), list(range(len(x))), "row", notes)


def named_columns(t: Sheet, names: list[str]) -> list[int]:
    """Columns matched by name, so their order and extra columns (an id, the target) do not matter.

    No positional fallback: a table whose header lacks the names may hold the right number of
    columns in another order, and a silently wrong prediction is worse than an error."""
    header = t.header
    missing = [n for n in names if n not in header]
    if missing:
        spare = [h for h in header if h not in names]  # only suggest a column that is not already used
        hints = [f"'{n}'" + (f" (did you mean '{near[0]}'?)" if (near := closest(n, spare)) else "") for n in missing]
        raise UsageError(f"{t.path} lacks {len(missing)} of the model's {len(names)} feature columns: "
                         f"{', '.join(hints)}; its columns are: {', '.join(map(repr, header))}")
    dupes = sorted({n for n in names if header.count(n) > 1})
    if dupes:  # which of two same-named columns is the feature cannot be known
        raise UsageError(f"{t.path}: column names must be unique, but feature column "
                         f"{', '.join(map(repr, dupes))} repeats")
    return [header.index(n) for n in names]


def positional_columns(t: Sheet, names: list[str]) -> list[int]:
    """A headerless table for a model that knows its feature names: by position, and only when the
    column count is exactly the model's (with one more or less, which one is off is a guess)."""
    if t.width != len(names):
        raise UsageError(f"{t.path} has no header row (its first row is numbers), so its columns cannot be matched "
                         f"to the model's {len(names)} feature names, and it has {t.width} columns, not {len(names)}: "
                         f"add a header row naming the columns ({', '.join(names)}), "
                         f"or give exactly {len(names)} columns in that order")
    return list(range(t.width))


def numeric_columns(t: Sheet, size: int) -> list[int]:
    """Without feature names values go in by position. A column with no number in it (a file
    name, a string label) is not a feature and is skipped; every other column counts."""
    cols = [c for c in range(t.width) if any(parse_numbers([row[c]]) is not None for row in t.rows)]
    if len(cols) != size:
        raise UsageError(f"{t.path}: expected {size} values per row, got {len(cols)} (numeric columns in order, "
                         "as the model has no feature names; drop other numeric columns such as an id or the target; "
                         f"read as {t.dialect.describe()})")
    return cols


def csv_values(t: Sheet, cols: list[int]) -> np.ndarray:
    """The chosen columns as float32 (N, F); the first cell that is not a finite number is named."""
    x, bad = numeric_cells(t, cols)
    if bad is None:
        return x
    i, line, c = bad
    raise UsageError(f"{t.path}, row {i} (line {line}), {t.label(c)}: {t.rows[i][c]!r} is not a finite number")


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
