"""Named vocabularies: one Registry per kind (layers, datasets, optimizers, ...).

Entries are registered with a decorator and looked up by name; an unknown name raises
UnknownName with the closest valid names, which the recipe layer turns into a located error.
Registries hold plain Python objects so that listing or validating never imports torch.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Iterator


def closest(name: str, options: list[str] | tuple[str, ...], n: int = 1) -> list[str]:
    """The valid names nearest to `name`, best first (may be empty)."""
    return difflib.get_close_matches(str(name), list(options), n=n, cutoff=0.5)


class UnknownName(KeyError):
    """A name that is not in a registry; `suggestion` is the nearest valid name or None."""

    def __init__(self, kind: str, name: str, options: list[str]):
        self.kind, self.name, self.options = kind, name, options
        near = closest(name, options)
        self.suggestion = near[0] if near else None
        super().__init__(self.message)

    @property
    def message(self) -> str:
        hint = f"; did you mean '{self.suggestion}'?" if self.suggestion else ""
        return f"unknown {self.kind} '{self.name}'{hint}"

    def __str__(self) -> str:
        return self.message


def first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """A vocabulary of named entries; `register` is the decorator, `get` the lookup."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str | None = None) -> Callable[[Any], Any]:
        def add(obj: Any) -> Any:
            key = name or getattr(obj, "name", None) or obj.__name__
            if key in self._entries:
                raise ValueError(f"{self.kind} '{key}' is registered twice")
            self._entries[key] = obj
            return obj

        return add

    def get(self, name: str) -> Any:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownName(self.kind, str(name), self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def docs(self) -> dict[str, str]:
        """Each name with the first line of its docstring, for `dlcli ls`."""
        return {key: first_line(self._entries[key]) for key in self.names()}

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
