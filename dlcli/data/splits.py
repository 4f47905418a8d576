"""Train/val/test index splits: seeded, stratified for class labels, hashed for run records.

Sizes are rounded cumulatively (test first, then val), so each part is within one sample of
its ratio and the parts always sum to N. A stratified split draws what scikit-learn's
train_test_split draws, through its numpy port in stratify.py (scikit-learn is not imported);
`stratification_problem` replays it from class counts alone, for `dlcli validate`.

The hash method assigns each sample by a seeded hash of its features instead: the assignment
does not depend on row order, survives appended rows, and puts exact duplicates together; part
sizes then match the ratios only in expectation. `leakage` counts exact duplicates across parts.
"""
from __future__ import annotations

import hashlib
from typing import Optional, Sequence

import numpy as np

from dlcli.data.base import SourceError

PARTS = ("train", "val", "test")


PAIRS = (("train", "val"), ("train", "test"), ("val", "test"))
CHUNK = 4096  # rows converted to float32 at a time, so hashing a large dataset does not copy it whole


def check_ratios(train: float, val: float, test: float) -> None:
    if min(train, val, test) < 0 or abs(train + val + test - 1.0) > 1e-6:
        raise ValueError(f"split ratios must be >= 0 and sum to 1, got train {train}, val {val}, test {test}")


def split_sizes(n: int, train: float, val: float, test: float) -> tuple[int, int, int]:
    """(n_train, n_val, n_test) for ratios that are >= 0 and sum to 1."""
    check_ratios(train, val, test)
    n_test = round(test * n)
    n_val = round((test + val) * n) - n_test
    return n - n_test - n_val, n_val, n_test


def class_name(label: int, classes: Optional[Sequence[str]]) -> str:
    return f"'{classes[label]}'" if classes is not None and 0 <= label < len(classes) else str(label)


def cut_problem(labels: np.ndarray, counts: np.ndarray, totals: dict, size: int, part: str,
                classes: Optional[Sequence[str]]) -> Optional[str]:
    """Why `size` samples cannot be split off, stratified, from a set with these class `counts`
    (`labels` name them; `totals` are each class's samples in the whole dataset); None if they can."""
    if size == 0 or size == counts.sum():  # nothing to balance: one side is empty
        return None
    if counts.min() < 2:
        c = int(labels[counts.argmin()])
        return (f"class {class_name(c, classes)} has only {totals[c]} sample(s), too few to stratify the "
                f"train/val/test split (each part needs its share of every class); set `stratify: false` "
                f"or add samples of that class")
    smaller = min(size, int(counts.sum()) - size)
    if smaller < len(counts):
        return (f"the {part} split would hold {smaller} samples, fewer than the {len(counts)} classes, so it "
                f"cannot be stratified; set `stratify: false` or change the split ratios")
    return None


def stratification_problem(class_counts: Sequence[int], n_val: int, n_test: int, seed: int,
                           classes: Optional[Sequence[str]] = None) -> Optional[str]:
    """Why the stratified split of data with these samples per class (index = label) fails; None if
    it does not. The test cut's allocation is replayed from the counts and the seed, so this
    decides from the counts alone exactly what `split_indices` decides from the labels."""
    from dlcli.data.stratify import approximate_mode

    counts = np.asarray(class_counts, dtype=np.int64)
    labels = np.flatnonzero(counts > 0)
    counts, totals = counts[labels], {int(c): int(n) for c, n in zip(labels, counts[labels])}
    problem = cut_problem(labels, counts, totals, n_test, "test", classes)
    if problem:
        return problem
    rest = counts if n_test in (0, counts.sum()) else approximate_mode(
        counts, int(counts.sum()) - n_test, np.random.RandomState(seed % 2**32))
    kept = rest > 0  # a class the test cut took whole is absent from what the val cut sees
    return cut_problem(labels[kept], rest[kept], totals, n_val, "val", classes)


def stratified_cut(idx: np.ndarray, y: np.ndarray, size: int, seed: int, part: str,
                   classes: Optional[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Split `size` samples of idx off into `part`, keeping class proportions: (rest, part).

    numpy's port of scikit-learn's stratified shuffle split (dlcli.data.stratify) draws the same
    samples without importing scikit-learn."""
    from dlcli.data.stratify import stratified_split

    if size == 0 or size == len(idx):
        return (idx, idx[:0]) if size == 0 else (idx[:0], idx)
    labels, counts = np.unique(y[idx], return_counts=True)
    totals = {int(c): int(np.sum(y == c)) for c in labels}
    problem = cut_problem(labels, counts, totals, size, part, classes)
    if problem:
        raise SourceError(problem)
    return stratified_split(idx, y[idx], size, seed)


def split_indices(y: np.ndarray, labels: Optional[str], train: float, val: float, test: float, stratify: bool,
                  seed: int, classes: Optional[Sequence[str]] = None) -> dict[str, np.ndarray]:
    """Disjoint sorted int64 index arrays {train, val, test} covering range(len(y)).

    `labels` is the kind of y (DataInfo.labels: "classes", "values" or None). Stratified (class
    proportions kept in every part) when `stratify` and y holds class labels; `classes` only
    names a class in an error message.
    """
    y, seed = np.asarray(y), seed % 2**32  # both numpy and scikit-learn take 32-bit seeds
    n_train, n_val, n_test = split_sizes(len(y), train, val, test)
    if stratify and labels == "classes":
        rest, test_idx = stratified_cut(np.arange(len(y)), y, n_test, seed, "test", classes)
        train_idx, val_idx = stratified_cut(rest, y, n_val, seed, "val", classes)
    else:
        order = np.random.default_rng(seed).permutation(len(y))
        test_idx, val_idx, train_idx = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    parts = dict(zip(PARTS, (train_idx, val_idx, test_idx)))
    return {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in parts.items()}


def splits_digest(splits: dict[str, np.ndarray]) -> str:
    """sha256 hex of every part's name and indices, independent of platform and dict order."""
    h = hashlib.sha256()
    for name in sorted(splits):
        idx = np.asarray(splits[name], dtype="<i8")
        h.update(f"{name}:{len(idx)}:".encode())
        h.update(idx.tobytes())
    return h.hexdigest()


def row_digests(x: np.ndarray) -> list[bytes]:
    """A 16-byte blake2b digest of each sample's features, as little-endian float32 bytes.

    float32 so the digest does not depend on the dtype a source happened to produce; adding 0.0
    turns -0.0 into 0.0, which compare equal but differ in their bytes.
    """
    x = np.asarray(x)
    rows = x.reshape(len(x), int(np.prod(x.shape[1:], dtype=np.int64)))
    out: list[bytes] = []
    for start in range(0, len(rows), CHUNK):
        block = (rows[start:start + CHUNK].astype(np.float32) + np.float32(0.0)).astype("<f4", copy=False)
        out.extend(hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in block)
    return out


def unit_fractions(digests: Sequence[bytes], seed: int) -> np.ndarray:
    """One uniform number in [0, 1) per digest: fixed for a seed, independent across seeds."""
    salt = f"dlcli-split:{seed}:".encode()  # the seed picks a different, equally stable assignment
    keys = b"".join(hashlib.blake2b(salt + d, digest_size=8).digest() for d in digests)
    top53 = np.frombuffer(keys, dtype=">u8") >> np.uint64(11)  # 53 bits: exact in a float64
    return top53.astype(np.float64) * 2.0**-53


def hash_indices(x: np.ndarray, train: float, val: float, test: float, seed: int) -> dict[str, np.ndarray]:
    """Disjoint sorted int64 index arrays {train, val, test}, each sample placed by its content.

    A sample's part depends only on its features and the seed, never on the other rows, so
    reordering rows or appending new ones leaves every old sample where it was; sizes follow the
    ratios in expectation only. Not stratified.
    """
    check_ratios(train, val, test)
    u = unit_fractions(row_digests(x), seed)
    # test == 0 must leave test empty even when the ratios' float sum falls just short of 1
    in_val = (u < train + val) | (test == 0)
    part = np.where(u < train, 0, np.where(in_val, 1, 2))
    return {name: np.flatnonzero(part == i).astype(np.int64) for i, name in enumerate(PARTS)}


def leakage(x: np.ndarray, indices: dict[str, np.ndarray], examples: int = 5) -> dict:
    """Exact-duplicate samples across parts: {"train_val": n, "train_test": n, "val_test": n, "examples": [...]}.

    "a_b" counts the samples of part b whose features also occur in part a (a val sample that
    is in train is the leak); examples are up to `examples` {a: row, b: row} pairs of dataset rows.
    """
    digests = row_digests(x)
    report: dict = {}
    found: list[dict] = []
    for a, b in PAIRS:
        first: dict[bytes, int] = {}
        for i in indices.get(a, ()):
            first.setdefault(digests[i], int(i))
        hits = [(first[digests[j]], int(j)) for j in indices.get(b, ()) if digests[j] in first]
        report[f"{a}_{b}"] = len(hits)
        found += [{a: i, b: j} for i, j in hits[:max(examples - len(found), 0)]]
    return {**report, "examples": found}


def leaked(report: Optional[dict]) -> int:
    """The pair counts summed (0 for no report): non-zero when any split shares a sample with another.

    A test sample found in both train and val counts once per pair, so this is not a sample count.
    """
    return sum(report[f"{a}_{b}"] for a, b in PAIRS) if report else 0


def describe_leakage(report: dict) -> str:
    """One line: the count per pair of parts and one example pair of rows."""
    counts = ", ".join(f"{a}/{b} {report[f'{a}_{b}']}" for a, b in PAIRS)
    eg = report["examples"][0] if report.get("examples") else None
    example = f" (e.g. {' = '.join(f'{k} row {v}' for k, v in eg.items())})" if eg else ""
    return f"exact-duplicate samples across splits: {counts}{example}"
