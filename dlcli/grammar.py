"""The item grammar shared by model specs and augmentation lists.

An item is a bare name (`relu`), a name with its entry's main argument (`{linear: 10}`), or a
name with a mapping of arguments (`{conv2d: {out: 8}}`, `{hflip: null}` for every default).
The entry's `main` class attribute names the key a bare value fills; None means it has none.
A base module: it knows registries, not layers or augmentations.
"""
from __future__ import annotations

from typing import Any

from dlcli.registry import Registry


def article(kind: str) -> str:
    """The kind with its indefinite article: `a layer`, `an augmentation`."""
    return f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"


def parse_item(item: Any, registry: Registry, kind: str) -> tuple[str, dict, bool]:
    """An item -> (name, raw args, filled main): `relu` -> ("relu", {}, False), `{linear: 10}` ->
    ("linear", {"out": 10}, True), `{conv2d: {out: 8}}` -> ("conv2d", {"out": 8}, False).

    An unknown name raises the registry's UnknownName (with its did-you-mean); any other item
    that is not this grammar raises ValueError, worded for `kind` ("layer", "augmentation")."""
    if isinstance(item, str):
        registry.get(item)
        return item, {}, False
    if isinstance(item, dict) and len(item) == 1:
        (name, value), = item.items()
        main = getattr(registry.get(name), "main", None)
        if value is None or isinstance(value, dict):
            return name, dict(value or {}), False
        if main is None:
            raise ValueError(f"{kind} '{name}' takes a mapping of arguments, not {value!r}")
        return name, {main: value}, True
    raise ValueError(f"{article(kind)} is a name or a one-key mapping {{name: args}}, got {item!r}")
