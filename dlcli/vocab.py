"""The one index of dlcli's vocabularies: every name a recipe may use is an entry of one of these
registries, written at the recipe keys given here.

`dlcli ls` lists from it, `dlcli schema` places each registry's names from it, and recipe
checking finds a component's arguments through it (`train.optimizer.lr`). Importing this module
imports no registry, and so no torch: a registry's module is imported when it is first asked
for, which fills it (its package imports every module that registers an entry).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Optional

from dlcli.errors import Path


@dataclass(frozen=True)
class Vocabulary:
    """One vocabulary: `dlcli ls NAME`'s registry, where a recipe writes its names, and what it is."""

    name: str
    registry_at: str  # "module:attribute" of its Registry
    keys: tuple[Path, ...]  # recipe key paths whose values (or items) name entries
    about: str
    # keys whose value is `NAME` or `{name: NAME, arg: ...}` (recipe/compose.py expands the first form
    # into the second), so that `<key>.<arg>` names an argument in --set and search spaces
    args_at: tuple[Path, ...] = ()

    def registry(self) -> Any:
        """The Registry itself, imported (and so filled) now."""
        module, attribute = self.registry_at.split(":")
        return getattr(importlib.import_module(module), attribute)


VOCABULARIES: tuple[Vocabulary, ...] = (
    Vocabulary("layers", "dlcli.nn.base:layers", (("model",), ("model", "layers"), ("models",)),
               "network layers, in order: a model is a list of them (blocks hold lists of their own)"),
    Vocabulary("architectures", "dlcli.nn.base:architectures", (("model",), ("models",)),
               "named networks with arguments, written in place of a layer list"),
    Vocabulary("initializers", "dlcli.nn.base:initializers", (("model", "init"),),
               "how a network's weights are initialised"),
    Vocabulary("datasets", "dlcli.data.base:sources", (("data", "source"),),
               "data sources: builtin datasets, synthetic data and files (csv, npz, image folders)"),
    Vocabulary("augmentations", "dlcli.data.base:augmentations", (("data", "augment"),),
               "random transforms of training batches, applied on the training device"),
    Vocabulary("normalizations", "dlcli.data.base:normalizers", (("data", "normalize"),),
               "input scalings fitted on the train split"),
    Vocabulary("optimizers", "dlcli.engine.optimizers:optimizers", (("train", "optimizer"),),
               "parameter update rules, one per optimizer role of the task", args_at=(("train", "optimizer"),)),
    Vocabulary("schedules", "dlcli.engine.schedules:schedules", (("train", "schedule"),),
               "learning-rate schedules, per epoch or per step", args_at=(("train", "schedule"),)),
    Vocabulary("losses", "dlcli.tasks.losses:losses", (("train", "loss"),),
               "training objectives of supervised tasks", args_at=(("train", "loss"),)),
    Vocabulary("metrics", "dlcli.tasks.metrics:metrics", (("train", "metrics"),),
               "scores computed on each split"),
    Vocabulary("tasks", "dlcli.tasks.base:tasks", (("task",),),
               "what is learned and how: networks, optimizer roles, batches, steps and evaluation"),
    Vocabulary("callbacks", "dlcli.engine.recorders:callbacks", (("train", "callbacks"),),
               "recorders hung on the training loop"),
    Vocabulary("samplers", "dlcli.search.samplers:samplers", (("search", "sampler"),),
               "how a search picks the next trial's values"),
    Vocabulary("pruners", "dlcli.search.pruners:pruners", (("search", "pruner"),),
               "when a search stops an unpromising trial early"),
)


def names() -> list[str]:
    """The vocabularies, in `dlcli ls`'s order."""
    return [v.name for v in VOCABULARIES]


def find(name: str) -> Optional[Vocabulary]:
    return next((v for v in VOCABULARIES if v.name == name), None)


def registry(name: str) -> Any:
    """The registry of the vocabulary `name` (a KeyError for a name not in the index)."""
    vocabulary = find(name)
    if vocabulary is None:
        raise KeyError(name)
    return vocabulary.registry()


def registries() -> dict[str, Any]:
    """Every vocabulary's name -> its registry, all imported."""
    return {v.name: v.registry() for v in VOCABULARIES}


def written_with_args(key: Path) -> Optional[Vocabulary]:
    """The vocabulary whose entries are written `{name: NAME, arg: ...}` at `key`, if any."""
    return next((v for v in VOCABULARIES if tuple(key) in v.args_at), None)
