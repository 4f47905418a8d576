"""The limits a recipe must stay within, in one place (docs/recipe.md, "Limits", lists them).

A recipe is small, human-written text. Without limits a few hostile lines (an alias bomb, a
thousand nested brackets, a chain of doubling `${...}` references) cost gigabytes or minutes
before any check runs. Every limit is far above what a real recipe needs; exceeding one is bad
input (exit 2), reported where it happens and naming the limit.
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_DOCUMENT_BYTES = 1 << 20   # a recipe file and its `extends` bases together; also each --set VALUE
MAX_DEPTH = 64                 # nesting of mappings and sequences, aliases and references included
MAX_NODES = 100_000            # values in one composed recipe, counting what each alias stands for
MAX_ITEMS = 10_000             # entries of one mapping or sequence
MAX_STRING_CHARS = 1 << 16     # one string, as written or after `${...}` interpolation
MAX_INT_DIGITS = 4300          # one integer (Python's own int-string limit)
MAX_EXTENDS_DEPTH = 16         # files in one `extends` chain (a extends b extends c ...)
MAX_EXTENDS_LOADS = 32         # base files merged for one recipe, counting repeats through diamonds
MAX_REFERENCE_DEPTH = 32       # `${a}` whose value is `${b}` whose value is ... (a chain of references)

LIMITS = {name: value for name, value in dict(globals()).items() if name.startswith("MAX_")}


def describe(name: str) -> str:
    """ "MAX_DEPTH = 64": how messages name a limit, so it can be found in the docs."""
    return f"{name} = {LIMITS[name]}"


class LimitExceeded(Exception):
    """A limit was crossed; `message` says what and names the limit."""

    def __init__(self, name: str, what: str):
        self.name, self.message = name, f"{what}: more than the limit {describe(name)} (docs/recipe.md, Limits)"
        super().__init__(self.message)


@dataclass
class Budget:
    """What one composition (a recipe, its bases and its --set values) has spent so far."""

    nodes: int = 0
    bytes: int = 0
    loads: int = 0

    def spend_nodes(self, n: int) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise LimitExceeded("MAX_NODES", f"the recipe holds {self.nodes:,} values or more")

    def spend_bytes(self, n: int) -> None:
        self.bytes += n
        if self.bytes > MAX_DOCUMENT_BYTES:
            raise LimitExceeded("MAX_DOCUMENT_BYTES", f"the recipe and its bases hold {self.bytes:,} bytes or more")

    def spend_load(self) -> None:
        self.loads += 1
        if self.loads > MAX_EXTENDS_LOADS:
            raise LimitExceeded("MAX_EXTENDS_LOADS", f"`extends` merges {self.loads} base files or more")
