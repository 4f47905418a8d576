"""File sources: a CSV table and a folder of images (one subfolder per class); .npz archives are in npz.py,
and the csv source's string pairs for seq2seq (`source:` set) in pairs.py.

Relative paths are resolved against `base`, the recipe's folder. Every problem with the user's
files is a SourceError whose `key` names the source argument to fix, and whose message says what
was expected and, for a misspelled column or array, the nearest valid name.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Optional

import numpy as np
from pydantic import Field, field_validator

from dlcli import fsio
from dlcli.data.base import DataInfo, Dataset, LabelKind, Source, SourceArgs, SourceError, sources
from dlcli.data.pairs import check_pair_args, pairs_dataset
from dlcli.registry import closest

MAX_CLASSES = 20  # an integer csv target with at most this many distinct values is a class label
PARTS = ("train", "val", "test")  # the parts of a given split, in the order their rows are stacked


def resolve(path: str, base: Path, folder: bool = False) -> Path:
    """The absolute path of a source file; a missing one is an error that names that path."""
    p = Path(path).expanduser()
    p = (p if p.is_absolute() else Path(base) / p).resolve()
    if not p.exists():
        raise SourceError(f"{'folder' if folder else 'file'} not found: {p}", "path")
    if folder != p.is_dir():
        raise SourceError(f"expected {'a folder' if folder else 'a file'} but {p} is {'a file' if folder else 'a folder'}", "path")
    return p


def unknown(what: str, name: str, options: list[str], where: Path, key: str) -> SourceError:
    """`name` is not among `options`: say so, with the nearest option or the list of them."""
    near = closest(name, options)
    shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
    hint = f"; did you mean '{near[0]}'?" if near else f"; {what}s: {shown}"
    return SourceError(f"{where} has no {what} '{name}'{hint}", key)


def label_names(values: np.ndarray) -> list[str]:
    """Class names of sorted distinct label values: integer-valued numbers print without '.0'."""
    if values.dtype.kind in "fc":
        return [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in values]
    return [str(v) for v in values]


def encode_labels(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Map labels to indices in sorted order; the class names are the sorted distinct values."""
    uniq, y = np.unique(values, return_inverse=True)
    return y.astype(np.int64).reshape(-1), label_names(uniq)


def counted(info: DataInfo, y: np.ndarray) -> DataInfo:
    """`info` with the sample count and, for class labels, the samples per class filled in."""
    info.samples = len(y)
    if info.classes is not None:
        info.class_counts = np.bincount(y, minlength=len(info.classes)).tolist()
    return info


def csv_given(t: Table, name: str) -> dict[str, np.ndarray]:
    """Row indices of each part named in the split column; a value that is no part is an error."""
    col = t.column(name, "split_column")
    values = [row[col].strip().lower() for row in t.rows]
    for i, value in enumerate(values):
        if value not in PARTS:
            near = closest(value, list(PARTS))
            hint = f"; did you mean '{near[0]}'?" if near else ""
            shown = t.rows[i][col].strip()
            raise SourceError(f"{t.path}: split column '{name}' has {shown!r} on line {t.lines[i]}; expected train, "
                              f"val or test{hint}", "split_column")
    return {part: np.array([i for i, v in enumerate(values) if v == part], dtype=np.int64) for part in PARTS}


def label_dataset(x: np.ndarray, y: np.ndarray, info: DataInfo) -> Dataset:
    extra = {"label_mapping": {c: i for i, c in enumerate(info.classes)}} if info.classes else {}
    return Dataset(x, y, info, extra)


# --------------------------------------------------------------------------------------- csv


class CsvArgs(SourceArgs):
    path: str = Field(description="the CSV file (with a header row), relative to the recipe's folder")
    target: str = Field(description="name of the target column")
    source: Optional[str] = Field(None, description="the source-string column, for seq2seq: the target column then "
                                  "holds the target strings")
    features: Optional[list[str]] = Field(None, description="feature columns; default: every column but the target "
                                          "(not with `source`)")
    delimiter: str = Field(",", min_length=1, max_length=1, description="the field separator")
    split_column: Optional[str] = Field(None, description="column saying which split each row is in (train, val "
                                        "or test), for `data.split: given`; never a feature")


@dataclass
class Table:
    """A CSV file as strings: the header, the non-blank rows and each row's line number."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def column(self, name: str, key: str) -> int:
        if name not in self.header:
            raise unknown("column", name, self.header, self.path, key)
        return self.header.index(name)


def read_table(path: Path, delimiter: str) -> Table:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = [h.strip() for h in next(reader, [])]
            rows, lines = [], []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue  # blank lines are not samples
                if len(row) != len(header):
                    raise SourceError(f"{path}, line {reader.line_num}: {len(row)} fields but the header has {len(header)}", "path")
                rows.append(row)
                lines.append(reader.line_num)
    except (UnicodeDecodeError, csv.Error) as e:
        raise SourceError(f"{path} is not a readable UTF-8 CSV file: {e}", "path") from None
    return checked_table(Table(path, header, rows, lines))


def checked_table(t: Table) -> Table:
    if not t.header or not any(t.header):
        raise SourceError(f"{t.path} is empty; expected a header row of column names", "path")
    dupes = sorted({h for h in t.header if t.header.count(h) > 1})
    if dupes:
        raise SourceError(f"{t.path}: column names must be unique, but {', '.join(map(repr, dupes))} repeats", "path")
    if not t.rows:
        raise SourceError(f"{t.path} has a header but no data rows", "path")
    return t


def parse_numbers(cells: list[str]) -> Optional[np.ndarray]:
    """The cells as float64, or None when any is not a finite number."""
    try:
        v = np.array([float(c) for c in cells], dtype=np.float64)
    except ValueError:
        return None
    return v if np.isfinite(v).all() else None


def bad_cell(cell: str, line: int) -> str:
    """What is wrong with a cell that should hold a finite number, and where."""
    return f"is empty on line {line}" if not cell else f"has {cell!r} on line {line}, which is not a finite number"


def not_finite(cell: str) -> bool:
    """A cell that reads as a number but is nan or +-inf (a string label is not one)."""
    try:
        return not math.isfinite(float(cell))
    except ValueError:
        return False


def first_bad(cells: list[str], lines: list[int]) -> tuple[str, int]:
    for cell, line in zip(cells, lines):
        if parse_numbers([cell]) is None:
            return cell, line
    return "", 0


def csv_labels(nums: Optional[np.ndarray]) -> LabelKind:
    """A string target or an integer-valued one with few distinct values holds class labels."""
    if nums is None:
        return "classes"
    integral = bool(np.all(nums == np.round(nums)))
    return "classes" if integral and len(np.unique(nums)) <= MAX_CLASSES else "values"


def csv_target(t: Table, name: str, labels: Optional[LabelKind]) -> tuple[np.ndarray, DataInfo]:
    """The target column as class labels (N,) int64 or values (N, 1) float32, and the info it
    implies; `labels` says how to read it, None: inferred from the column."""
    cells = [row[t.column(name, "target")].strip() for row in t.rows]
    for cell, line in zip(cells, t.lines):
        if not cell or not_finite(cell):
            raise SourceError(f"{t.path}: target column '{name}' {bad_cell(cell, line)}; every row needs a target",
                              "target")
    nums = parse_numbers(cells)
    if (labels or csv_labels(nums)) == "values":
        if nums is None:
            cell, line = first_bad(cells, t.lines)
            raise SourceError(f"target column '{name}' must be numeric to be read as values, but line {line} has "
                              f"{cell!r}", "target")
        return nums.astype(np.float32).reshape(-1, 1), DataInfo((), "values", "tabular", targets=1)
    y, classes = encode_labels(nums if nums is not None else np.array(cells))
    return y, DataInfo((), "classes", "tabular", classes=classes)


def csv_features(t: Table, a: CsvArgs) -> tuple[list[int], list[str]]:
    names = a.features if a.features is not None else [h for h in t.header if h not in (a.target, a.split_column)]
    if a.target in names:
        raise SourceError(f"column '{a.target}' is the target; remove it from features", "features")
    if a.split_column is not None and a.split_column in names:
        raise SourceError(f"column '{a.split_column}' is the split column; remove it from features", "features")
    if not names:
        raise SourceError(f"{t.path} has no feature columns besides the target '{a.target}'", "features")
    return [t.column(n, "features") for n in names], names


def numeric_cells(t: Table, cols: list[int]) -> tuple[Optional[np.ndarray], Optional[tuple[int, int, int]]]:
    """(float32 (N, F), None), or (None, (row index, line, column)) of the first cell, in file
    order, that is not a finite number. Shared with `dlcli predict`, which words its own error."""
    try:
        x = np.array([[row[c] for c in cols] for row in t.rows], dtype=np.float64)
        if np.isfinite(x).all():
            return x.astype(np.float32), None
    except ValueError:
        pass  # locate the culprit below
    for i, (row, line) in enumerate(zip(t.rows, t.lines)):
        for c in cols:
            if parse_numbers([row[c]]) is None:
                return None, (i, line, c)
    raise AssertionError("unreachable: a cell failed to parse as a whole but not alone")


def csv_matrix(t: Table, cols: list[int], names: list[str]) -> np.ndarray:
    """The feature columns as float32 (N, F); the first non-numeric cell is an error."""
    x, bad = numeric_cells(t, cols)
    if bad is None:
        return x
    row, line, c = bad
    raise SourceError(f"{t.path}: feature column '{names[cols.index(c)]}' {bad_cell(t.rows[row][c].strip(), line)}; "
                      f"every feature must be a finite number: fix the cell, drop the row, or list the columns to use "
                      f"in `features` to leave it out", "features")


@sources.register("csv")
class Csv(Source):
    """A CSV file with a header row: numeric features and a target column, or (with `source`) string pairs for seq2seq.

    In pairs mode (dlcli/data/pairs.py) the source and target columns hold strings, read as characters."""

    Args = CsvArgs
    main = "path"

    def scan(self, a: CsvArgs, base: Path, labels: Optional[LabelKind]) -> Dataset:
        """Every cell read and checked, so `validate` finds what training would trip on. In pairs
        mode the target is always token sequences, whatever `labels` hints (the task refuses a mismatch)."""
        if a.source is not None:
            check_pair_args(a)
        t = read_table(resolve(a.path, base), a.delimiter)
        given = csv_given(t, a.split_column) if a.split_column is not None else None  # before it is read as a feature
        data = pairs_dataset(t, a.source, a.target) if a.source is not None else self.numeric(t, a, labels)
        if given is not None:
            data.given, data.info.given = given, {part: len(idx) for part, idx in given.items()}
        return data

    def numeric(self, t: Table, a: CsvArgs, labels: Optional[LabelKind]) -> Dataset:
        """Numeric feature columns and a target of class labels or values."""
        y, info = csv_target(t, a.target, labels)
        cols, names = csv_features(t, a)
        info.input_shape, info.feature_names = (len(cols),), names
        return label_dataset(csv_matrix(t, cols, names), y, counted(info, y))

    def info(self, a: CsvArgs, base: Path, labels: Optional[LabelKind] = None) -> DataInfo:
        return self.scan(a, base, labels).info

    def load(self, a: CsvArgs, base: Path, labels: Optional[LabelKind] = None) -> Dataset:
        return self.scan(a, base, labels)


# ------------------------------------------------------------------------------ image folder

Side = Annotated[int, Field(ge=1)]


class ImageFolderArgs(SourceArgs):
    path: str = Field(description="folder with one subfolder of images per class, relative to the recipe's folder")
    size: tuple[Side, Side] = Field((32, 32), description="[height, width] every image is resized to")
    mode: Literal["grayscale", "rgb"] = Field("rgb", description="grayscale (1 channel) or rgb (3 channels)")
    extensions: list[str] = Field([".png", ".jpg", ".jpeg", ".bmp", ".gif"], description="file name endings to read")

    @field_validator("extensions")
    @classmethod
    def _dotted(cls, v: list[str]) -> list[str]:
        return ["." + e.lower().lstrip(".") for e in v]


def image_files(root: Path, extensions: list[str]) -> tuple[list[str], list[tuple[int, Path]]]:
    """Class names (sorted subfolders) and (label, file) pairs in a stable order."""
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise SourceError(f"{root} has no subfolders; expected one subfolder of images per class", "path")
    files = []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).rglob("*") if p.is_file() and p.suffix.lower() in extensions)
        if not found:
            raise SourceError(f"class folder {root / name} has no images ending in {', '.join(extensions)}", "path")
        files += [(label, p) for p in found]
    return classes, files


def cache_path(root: Path, files: list[tuple[int, Path]], a: ImageFolderArgs) -> Path:
    """Where the decoded images live; any change to a file, the size or the mode is a new key."""
    h = hashlib.sha256(json.dumps({"root": str(root), "size": list(a.size), "mode": a.mode, "v": 1}).encode())
    for _, p in files:
        st = p.stat()
        h.update(f"\n{p.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}".encode())
    home = os.environ.get("DLCLI_CACHE") or Path.home() / ".cache" / "dlcli"
    return Path(home) / "images" / f"{h.hexdigest()[:32]}.npz"


def decode_images(files: list[tuple[int, Path]], a: ImageFolderArgs) -> np.ndarray:
    """Every image decoded, converted and resized: (N, C, H, W) uint8."""
    from PIL import Image

    (h, w), channels = a.size, 1 if a.mode == "grayscale" else 3
    out = np.empty((len(files), channels, h, w), dtype=np.uint8)
    for i, (_, p) in enumerate(files):
        try:
            with Image.open(p) as im:
                im = im.convert("L" if channels == 1 else "RGB").resize((w, h), Image.Resampling.BILINEAR)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise SourceError(f"cannot decode image {p}: {e}", "path") from None
        arr = np.asarray(im)
        out[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return out


def read_cache(path: Path, n: int) -> Optional[np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            x = archive["x"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # absent or unreadable: decode again
    return x if len(x) == n else None


def write_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write an .npz so that a reader never sees half a file, nor, after a crash, an empty one.

    The archive is built in memory and handed to fsio.write_atomic, which fsyncs before it renames:
    a rename alone can reach the disk before the data it names."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    fsio.write_atomic(Path(path), buf.getvalue())


@sources.register("image_folder")
class ImageFolder(Source):
    """A folder of images with one subfolder per class, resized to `size`; x is raw 0..255."""

    Args = ImageFolderArgs
    main = "path"

    def scan(self, a: ImageFolderArgs, base: Path) -> tuple[Path, list, DataInfo]:
        """The folder, its (label, file) pairs and the info; the subfolders are the classes, so the
        `labels` hint has nothing to choose here."""
        root = resolve(a.path, base, folder=True)
        classes, files = image_files(root, a.extensions)
        shape = (1 if a.mode == "grayscale" else 3,) + tuple(a.size)
        info = DataInfo(shape, "classes", "image", classes=classes)
        return root, files, counted(info, np.array([c for c, _ in files], np.int64))

    def info(self, a: ImageFolderArgs, base: Path, labels: Optional[LabelKind] = None) -> DataInfo:
        return self.scan(a, base)[2]

    def load(self, a: ImageFolderArgs, base: Path, labels: Optional[LabelKind] = None) -> Dataset:
        root, files, info = self.scan(a, base)
        cache = cache_path(root, files, a)
        x = read_cache(cache, len(files))
        if x is None:
            x = decode_images(files, a)
            try:
                write_atomic(cache, x=x)
            except OSError as e:  # a cache is an optimisation: an unwritable one must not stop training
                warnings.warn(f"could not cache decoded images at {cache}: {e}")
        y = np.array([label for label, _ in files], dtype=np.int64)
        return label_dataset(x.astype(np.float32), y, info)
