"""The npz source: a numpy archive with inputs x and targets y, or with the split it comes with.

An archive that has no `x` but `x_train` (and `y_train`; optionally x_val/y_val and x_test/y_test)
holds a benchmark's own split: its parts are stacked train, val, test and their rows kept as the
dataset's given split, for `data.split: given`. An archive without targets (x only, or x_train
only, ...) holds data without labels, unless the recipe names its `y` or the caller asks for labels:
then the missing array is an error that names it.

Everything is read with allow_pickle=False: an object array needs pickle, and unpickling can
run code, so it is refused. A file that is not an archive, is cut short or damaged, or holds a
member that is not a .npy array is a SourceError naming the file, never a traceback.
"""
from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import Field

from dlcli.data.base import DataInfo, Dataset, LabelKind, Layout, Source, SourceArgs, SourceError, sources, unlabelled
from dlcli.data.files import PARTS, counted, encode_labels, label_dataset, resolve, unknown

# what reading a damaged archive raises: truncated data, a bad CRC, a bad deflate stream, a bad header
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)


class NpzArgs(SourceArgs):
    path: str = Field(description="the .npz archive (numpy.savez), relative to the recipe's folder")
    x: str = Field("x", description="name of the input array, (N, ...); an archive with its own split has "
                   "<x>_train, <x>_val and <x>_test instead (val and test optional)")
    y: str = Field("y", description="name of the target array, (N,) labels or (N, T) values; <y>_train, ... "
                   "with the archive's own split; an archive without it holds no labels (x only)")
    layout: Optional[Layout] = Field(None, description="tabular, sequence or image; default from x's axes (2, 3, 4)")


def damaged(path: Path, e: BaseException, name: Optional[str] = None) -> SourceError:
    where = f"array '{name}' of {path}" if name else str(path)
    return SourceError(f"{where} cannot be read, the file is damaged or not written by numpy.savez "
                       f"({type(e).__name__}: {e}); write it again", "path")


def members(path: Path) -> list[str]:
    """The array names of an archive, from its directory alone."""
    if not zipfile.is_zipfile(path):
        raise SourceError(f"{path} is not an .npz archive; expected a file written by numpy.savez", "path")
    try:
        with zipfile.ZipFile(path) as archive:
            return [m[:-4] for m in archive.namelist() if m.endswith(".npy")]
    except READ_ERRORS as e:
        raise damaged(path, e) from None


def npy_header(archive: zipfile.ZipFile, member: str) -> tuple[tuple, np.dtype]:
    """Shape and dtype of one array of an archive, from its header alone (no data read)."""
    fmt = np.lib.format
    with archive.open(member) as f:
        version = fmt.read_magic(f)
        read = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
        if read is None:  # a newer header format: read the array itself rather than guess
            arr = fmt.read_array(archive.open(member), allow_pickle=False)
            return arr.shape, arr.dtype
        shape, _, dtype = read(f)
    return tuple(shape), dtype


def header(path: Path, name: str, names: list[str], key: str) -> tuple[tuple, np.dtype]:
    """Shape and dtype of array `name`; a missing one is reported with the nearest name."""
    if name not in names:
        raise unknown("array", name, names, path, key)
    try:
        with zipfile.ZipFile(path) as archive:
            shape, dtype = npy_header(archive, name + ".npy")
    except READ_ERRORS as e:
        raise damaged(path, e, name) from None
    if dtype.hasobject:
        raise SourceError(f"array '{name}' of {path} holds Python objects (dtype {dtype}), which only pickle can "
                          f"read, and unpickling can run code: refused; save numbers or strings instead", key)
    return shape, dtype


def array(path: Path, name: str, names: list[str], key: str) -> np.ndarray:
    header(path, name, names, key)  # missing, damaged or pickled: said before any data is read
    try:
        with np.load(path, allow_pickle=False) as archive:
            return archive[name]
    except READ_ERRORS as e:
        raise damaged(path, e, name) from None


def numeric_input(path: Path, name: str, names: list[str]) -> tuple:
    shape, dtype = header(path, name, names, "x")
    if dtype.kind not in "biuf":
        raise SourceError(f"array '{name}' of {path} must be numeric, but its dtype is {dtype}", "x")
    if len(shape) == 0:
        raise SourceError(f"array '{name}' of {path} is a single value; expected one row per sample", "x")
    return shape


def npz_input_shape(shape: tuple, layout: Optional[Layout], name: str) -> tuple[tuple, Layout]:
    """Per-sample shape for a layout; an explicit layout may add a channel axis or flatten."""
    layout = layout or {2: "tabular", 3: "sequence", 4: "image"}.get(len(shape))
    rest = tuple(int(d) for d in shape[1:])
    fits = {"tabular": len(shape) >= 2, "sequence": len(shape) in (2, 3), "image": len(shape) in (3, 4)}
    if layout is None or not fits[layout]:
        need = "2 axes (tabular), 3 (sequence) or 4 (image)" if layout is None else {
            "tabular": "2 or more axes", "sequence": "2 or 3 axes", "image": "3 (N, H, W) or 4 (N, C, H, W) axes"}[layout]
        raise SourceError(f"array '{name}' has shape {tuple(shape)}; layout {layout or '(inferred)'} needs {need}",
                          "x" if layout is None else "layout")
    if layout == "tabular":
        return (math.prod(rest),), layout
    if len(shape) == (3 if layout == "image" else 2):  # the missing axis is a single channel
        return ((1,) + rest if layout == "image" else rest + (1,)), layout
    return rest, layout


def npz_target(y: np.ndarray, n: int, labels: Optional[LabelKind], name: str) -> tuple[np.ndarray, DataInfo]:
    """The targets as class labels (N,) int64 or values (N, T) float32, and the info they imply;
    `labels` says how to read them, None: integers and strings in one column are class labels."""
    if y.ndim == 0 or len(y) != n or y.dtype.kind not in "biufUS":
        raise SourceError(f"array '{name}' must hold one number or label per sample of x ({n}), "
                          f"but has shape {y.shape} and dtype {y.dtype}", "y")
    flat = y.reshape(-1) if y.ndim == 1 or y.shape[1:] == (1,) else None
    labels = labels or ("classes" if flat is not None and y.dtype.kind in "biuUS" else "values")
    if labels == "values":
        if y.dtype.kind in "US" or not np.isfinite(y.astype(np.float64)).all():
            raise SourceError(f"array '{name}' must hold finite numbers to be read as values", "y")
        y = y.astype(np.float32).reshape(n, -1)
        return y, DataInfo((), "values", "tabular", targets=y.shape[1])
    if flat is None or (flat.dtype.kind == "f" and not np.all(flat == np.round(flat))):
        raise SourceError(f"array '{name}' must hold one integer or string label per sample to be read as class "
                          f"labels, but has shape {y.shape} and dtype {y.dtype}", "y")
    y, classes = encode_labels(flat)
    return y, counted(DataInfo((), "classes", "tabular", classes=classes), y)


def wants_targets(a: NpzArgs, names: list[str], parts: list[str], labels: Optional[LabelKind]) -> bool:
    """Whether to read targets: always when the archive has them; without them, only when the recipe
    names `y` or the caller asks for labels, so that reading them says what is missing."""
    return (f"{a.y}_train" if parts else a.y) in names or labels is not None or "y" in a.model_fields_set


def given_parts(path: Path, a: NpzArgs, names: list[str]) -> list[str]:
    """The parts of the archive's own split, when it has one (no `x`, but x_train, x_val or x_test)."""
    if a.x in names:
        return []
    parts = [p for p in PARTS if f"{a.x}_{p}" in names or f"{a.y}_{p}" in names]
    if parts and "train" not in parts:
        raise unknown("array", f"{a.x}_train", names, path, "x")
    return parts


def part_shapes(path: Path, a: NpzArgs, names: list[str], parts: list[str]) -> dict[str, tuple]:
    """x's shape per part; every part must hold samples of one shape."""
    shapes = {p: numeric_input(path, f"{a.x}_{p}", names) for p in parts}
    first = shapes["train"]
    for p, shape in shapes.items():
        if shape[1:] != first[1:]:
            raise SourceError(f"array '{a.x}_{p}' of {path} holds samples of shape {tuple(shape[1:])}, but "
                              f"'{a.x}_train' holds {tuple(first[1:])}", "x")
    return shapes


def part_targets(path: Path, a: NpzArgs, names: list[str], shapes: dict[str, tuple]) -> np.ndarray:
    """The parts' targets stacked, each checked against its own x."""
    ys = []
    for p, shape in shapes.items():
        y = array(path, f"{a.y}_{p}", names, "y")
        if y.ndim == 0 or len(y) != shape[0] or y.shape[1:] != (ys[0].shape[1:] if ys else y.shape[1:]):
            raise SourceError(f"array '{a.y}_{p}' of {path} has shape {y.shape}; expected one target per sample of "
                              f"'{a.x}_{p}' ({shape[0]}), shaped like '{a.y}_train'", "y")
        ys.append(y)
    try:
        return np.concatenate(ys)
    except (TypeError, ValueError) as e:  # e.g. string labels in one part, numbers in another
        raise SourceError(f"the target arrays '{a.y}_*' of {path} do not stack ({e}); give every part the same "
                          f"kind of targets", "y") from None


def finite_inputs(x: np.ndarray, name: str, path: Path) -> np.ndarray:
    """x itself; a nan or inf anywhere is an error naming the first sample that has one."""
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        row = int(np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0])
        raise SourceError(f"array '{name}' of {path} has a nan or inf in sample {row}; every input must be a "
                          f"finite number", "x")
    return x


@sources.register("npz")
class Npz(Source):
    """A numpy .npz archive: inputs x (N, ...) and targets y (N,) or (N, T) (or none), or its own x_train/y_train, ... split."""

    Args = NpzArgs
    main = "path"

    def scan(self, a: NpzArgs, base: Path, labels: Optional[LabelKind]) -> tuple[Path, list, dict, np.ndarray, DataInfo]:
        """(path, array names, x shape per part (None: the whole archive), y, info); no x data read."""
        path = resolve(a.path, base)
        names = members(path)
        parts = given_parts(path, a, names)
        read = wants_targets(a, names, parts, labels)
        if parts:
            shapes = part_shapes(path, a, names, parts)
            y_name = f"{a.y}_train"
            y = part_targets(path, a, names, shapes) if read else None
        else:
            shapes, y_name = {None: numeric_input(path, a.x, names)}, a.y
            y = array(path, a.y, names, "y") if read else None
        total = sum(s[0] for s in shapes.values())
        y, info = npz_target(y, total, labels, y_name) if read else (unlabelled(total), DataInfo((), None, "tabular"))
        first = next(iter(shapes.values()))
        info.input_shape, info.layout = npz_input_shape((total,) + tuple(first[1:]), a.layout,
                                                        a.x if not parts else f"{a.x}_train")
        info.samples = total
        if parts:
            info.given = {p: int(shapes[p][0]) if p in shapes else 0 for p in PARTS}
        return path, names, shapes, y, info

    def info(self, a: NpzArgs, base: Path, labels: Optional[LabelKind] = None) -> DataInfo:
        return self.scan(a, base, labels)[4]

    def load(self, a: NpzArgs, base: Path, labels: Optional[LabelKind] = None) -> Dataset:
        path, names, shapes, y, info = self.scan(a, base, labels)
        xs = []
        for part, shape in shapes.items():
            name = a.x if part is None else f"{a.x}_{part}"
            x = finite_inputs(array(path, name, names, "x"), name, path)
            xs.append(x.astype(np.float32).reshape((shape[0],) + tuple(info.input_shape)))
        data = label_dataset(xs[0] if len(xs) == 1 else np.concatenate(xs), y, info)
        if info.given is not None:
            data.given = stacked_parts(info.given)
        return data


def stacked_parts(sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Row indices of each part when the parts are stacked in PARTS order."""
    out, start = {}, 0
    for p in PARTS:
        out[p] = np.arange(start, start + sizes[p], dtype=np.int64)
        start += sizes[p]
    return out
