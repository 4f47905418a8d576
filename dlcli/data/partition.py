"""The split a recipe asks for, checked against the data, and the indices it makes.

`problems` decides from a DataInfo alone (sizes and samples per class, nothing loaded), so
`dlcli validate` asks it; training asks it again of the loaded data before splitting, so the two
never disagree. `make` then computes the parts: the data's own (`split: given`), by content
hash, or seeded and, for data with class labels, stratified.

Data whose source cut the parts itself (`info.contiguous`: a text corpus, cut into contiguous
blocks by the fractions, in order, so that no window spans two parts) is split that way only:
`make` hands back its given parts, and a hash or given split is refused.

`labels` is the data's label kind (DataInfo.labels): "classes" lets a random split stratify,
"values" and None (no labels) never do.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from dlcli.data.base import DataInfo, Dataset, SourceError
from dlcli.data.splits import PARTS, hash_indices, split_indices, split_sizes, stratification_problem

Found = tuple[tuple, str, Optional[str]]  # (key path under data.split, message, suggestion)

NOT_GIVEN = ("`split: given` needs data that comes split: an npz archive with x_train/y_train (x_val/y_val and "
             "x_test/y_test optional) instead of x/y, or a csv source with `split_column` naming a column of "
             "train/val/test")


def given_problems(info: DataInfo) -> list[Found]:
    if info.given is None:
        return [((), NOT_GIVEN, None)]
    if not info.given.get("train"):
        return [((), f"the data's own split has no train samples ({describe(info.given)})", None)]
    return []


def describe(sizes: dict[str, int]) -> str:
    return ", ".join(f"{part} {sizes.get(part, 0)}" for part in PARTS)


def contiguous_problems(split: Any) -> list[Found]:
    """A text corpus is split by its fractions only: its source cut the parts already."""
    if split.method == "random":
        return []
    written = "`split: given`" if split.method == "given" else "`method: hash`"
    return [(("method",), f"{written} cannot split this data: a text corpus is cut into contiguous blocks by the "
             f"fractions, in order (train first), so that no window spans two parts; give train, val and test "
             f"fractions instead", None)]


def stratified(split: Any, info: DataInfo, labels: Optional[str]) -> bool:
    """Whether the split keeps class proportions: a random split asked to, of data with class labels."""
    return split.method == "random" and split.stratify and labels == "classes" and info.labels == "classes"


def problems(split: Any, info: Optional[DataInfo], labels: Optional[str], seed: int) -> list[Found]:
    """What is wrong with data.split (a recipe's Split) for this data, whose label kind is `labels`;
    [] when nothing is."""
    if info is None:
        return []
    if info.contiguous:
        return contiguous_problems(split)
    if split.method == "given":
        return given_problems(info)
    found: list[Found] = []
    if info.given is not None:
        found.append(((), f"the data comes split ({describe(info.given)}): set `data.split: given` to train on "
                      f"that split, or give the data unsplit (an npz with x and y; a csv without split_column)", None))
    if stratified(split, info, labels) and info.class_counts:
        _, n_val, n_test = split_sizes(sum(info.class_counts), split.train, split.val, split.test)
        why = stratification_problem(info.class_counts, n_val, n_test, seed, info.classes)
        if why:
            found.append((("stratify",), why, None))
    return found


def make(split: Any, dataset: Dataset, labels: Optional[str], seed: int) -> dict[str, np.ndarray]:
    """Disjoint sorted int64 row indices {train, val, test} of `dataset`, whose label kind is `labels`
    (its info.labels); a SourceError when the split cannot be made."""
    found = problems(split, dataset.info, labels, seed)
    if found:
        raise SourceError(found[0][1])
    if split.method == "given" or dataset.info.contiguous:
        return {part: np.sort(np.asarray(dataset.given[part], dtype=np.int64)) for part in PARTS}
    if split.method == "hash":  # by content alone, so `stratify` does not apply
        return hash_indices(dataset.x, split.train, split.val, split.test, seed)
    kind = "classes" if stratified(split, dataset.info, labels) else None
    return split_indices(dataset.y, kind, split.train, split.val, split.test, split.stratify, seed,
                         classes=dataset.info.classes)


def recipe_problems(recipe: Any, info: Optional[DataInfo], labels: Optional[str]) -> list:
    """data.split of a parsed recipe checked against its data (label kind `labels`, its info.labels),
    as located-ready Problems (recipe/check.py)."""
    from dlcli.errors import Problem

    if recipe is None:
        return []
    return [Problem(("data", "split") + path, message, suggestion)
            for path, message, suggestion in problems(recipe.data.split, info, labels, recipe.seed)]
