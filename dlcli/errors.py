"""The error types every command maps to an exit code.

UsageError and RecipeError mean the input is wrong (exit 2, no traceback); RunFailed means the
job ran and failed (exit 1, one clear message).
"""
from __future__ import annotations

from dataclasses import dataclass, field


Path = tuple  # a key path into the recipe: ("train", "optimizer", "lr") or ("model", 3, "conv2d")


def dotted(path: Path) -> str:
    """("model", 3, "conv2d", "out") -> "model[3].conv2d.out"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<recipe>"


@dataclass
class Problem:
    """One thing wrong with a recipe, at a key path; `where` is filled in from the YAML marks."""

    path: Path
    message: str
    suggestion: str | None = None
    where: str | None = None  # "recipes/x.yaml:12:5" or "--set train.lr=0"

    def render(self) -> str:
        hint = f"; did you mean '{self.suggestion}'?" if self.suggestion and "did you mean" not in self.message else ""
        where = f"{self.where}: " if self.where else ""
        return f"{where}{dotted(self.path)}: {self.message}{hint}"


class UsageError(Exception):
    """Wrong input outside a recipe's content: a missing file, a bad flag. Exit 2."""


@dataclass
class RecipeError(Exception):
    """Every problem found in a recipe, reported together. Exit 2."""

    problems: list[Problem] = field(default_factory=list)
    source: str = ""

    def __str__(self) -> str:
        head = f"{len(self.problems)} error{'s' if len(self.problems) != 1 else ''} in {self.source or 'the recipe'}:"
        return "\n".join([head] + [f"  {p.render()}" for p in self.problems])


class RunFailed(Exception):
    """The job ran and failed: a diverged loss, a parity mismatch, a drift. Exit 1."""
