"""Compare a fresh run's lock with the recorded one: strict (bit for bit) or tolerant.

Strict is chosen when every environment field matches, since then the same recipe must give
the same bits; anything else (another CPU, library or thread count) can only be held to
per-metric tolerances. Both modes hold the data and the splits to exact digests.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

DEFAULT_UNIT_ATOL = 0.02  # accuracy-like scores: two points of a percent scale
DEFAULT_RTOL = 0.10  # losses and errors in data units


@dataclass
class Row:
    field: str
    locked: Any
    now: Any
    tolerance: str
    status: str  # pass | drift | info (reported, not held to anything in this mode)


@dataclass
class Verdict:
    mode: str
    mode_reason: str
    environment: list = field(default_factory=list)  # [field, locked, now] of every differing field
    recipe_changes: list = field(default_factory=list)
    rows: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.status != "drift" for r in self.rows)

    @property
    def drifts(self) -> list:
        return [r for r in self.rows if r.status == "drift"]

    def as_dict(self) -> dict:
        return {"passed": self.passed, "mode": self.mode, "mode_reason": self.mode_reason,
                "environment_differences": [dict(zip(("field", "locked", "now"), d)) for d in self.environment],
                "recipe_changed": bool(self.recipe_changes), "recipe_changes": self.recipe_changes,
                "rows": [asdict(r) for r in self.rows]}


def environment_differences(locked: dict, now: dict) -> list:
    return [[k, locked.get(k), now.get(k)] for k in sorted(set(locked) | set(now)) if locked.get(k) != now.get(k)]


def choose_mode(forced: Optional[str], differences: list) -> tuple[str, str]:
    names = ", ".join(d[0] for d in differences)
    if forced:
        why = f"the environment differs in {names}" if differences else "the environment matches"
        return forced, f"--{forced} ({why})"
    if differences:
        return "tolerant", f"the environment differs in {names}: bit-identical results are not expected"
    return "strict", "the environment matches the lock: weights and loss trace must be identical"


def _flatten(doc: Any, prefix: str = "") -> dict:
    if isinstance(doc, dict) and doc:
        return {k: v for key, value in doc.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): doc}


def recipe_changes(locked: dict, now: dict) -> list[str]:
    """Key paths whose value differs between the locked and the current resolved recipe."""
    a, b = _flatten(locked), _flatten(now)
    changes = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            changes.append(f"{key}: {a[key]!r} removed")
        elif key not in a:
            changes.append(f"{key}: {b[key]!r} added")
        elif a[key] != b[key]:
            changes.append(f"{key}: {a[key]!r} -> {b[key]!r}")
    return changes


def held_as(held: bool) -> str:
    return "exact" if held else "not held"


def exact_row(name: str, locked: Any, now: Any, held: bool) -> Row:
    status = "pass" if locked == now else "drift" if held else "info"
    return Row(name, locked, now, held_as(held), status)


def trace_rows(locked: dict, now: dict, held: bool) -> list[Row]:
    """One row per traced loss: identical, or its first differing epoch."""
    rows = []
    for key in sorted(set(locked) | set(now)):
        a, b = locked.get(key, []), now.get(key, [])
        if a == b:
            rows.append(Row(f"trace {key}", f"{len(a)} epochs", "identical", held_as(held), "pass"))
            continue
        i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        at = lambda seq: seq[i] if i < len(seq) else f"(no epoch {i + 1})"  # noqa: E731
        rows.append(exact_row(f"trace {key} epoch {i + 1}", at(a), at(b), held))
    return rows


def default_metrics(locked: dict) -> list[str]:
    """Every test metric; val's when there is no test split; train's when neither."""
    for split in ("test", "val", "train"):
        names = [k for k in locked if k.startswith(split + ".")]
        if names:
            return names
    return []


def tolerance_of(name: str, spec: Any) -> tuple[float, float]:
    """(atol, rtol) from a recipe's tolerance entry; None picks the default for the metric's scale."""
    from dlcli.tasks.metrics import unit_scale

    if spec is None:
        return (DEFAULT_UNIT_ATOL, 0.0) if unit_scale(name) else (0.0, DEFAULT_RTOL)
    return spec.atol, spec.rtol


def describe_tolerance(atol: float, rtol: float) -> str:
    parts = ([f"±{atol:g}"] if atol else []) + ([f"±{rtol * 100:g}%"] if rtol else [])
    return " + ".join(parts) or "exact"


def selected_metrics(locked: dict, check: Any) -> dict:
    """Metric name -> (atol, rtol) for a tolerant check, from the recipe's `check:` section."""
    chosen = check.metrics if check is not None and check.metrics is not None else default_metrics(locked)
    fallback = check.tolerance if check is not None else None
    own = chosen if isinstance(chosen, dict) else {}
    return {name: tolerance_of(name, own.get(name) if own.get(name) is not None else fallback) for name in chosen}


def metric_rows(locked: dict, now: dict, check: Any, strict: bool) -> list[Row]:
    if strict:
        return [exact_row(name, locked[name], now.get(name, "(missing)"), True) for name in sorted(locked)]
    rows = []
    for name, (atol, rtol) in selected_metrics(locked, check).items():
        a, b = locked.get(name), now.get(name)
        ok = a is not None and b is not None and abs(b - a) <= atol + rtol * abs(a)
        rows.append(Row(name, a if a is not None else "(missing)", b if b is not None else "(missing)",
                        describe_tolerance(atol, rtol), "pass" if ok else "drift"))
    return rows


def compare(lock: dict, now: dict, check: Any = None, forced: Optional[str] = None) -> Verdict:
    """Hold `now` (a fresh run's lock) to `lock`; `check` is the recipe's check section."""
    differences = environment_differences(lock["environment"], now["environment"])
    mode, reason = choose_mode(forced, differences)
    strict = mode == "strict"
    rows = [exact_row("data", lock.get("data"), now.get("data"), True),
            exact_row("splits", lock.get("splits"), now.get("splits"), True),
            exact_row("weights sha256", lock["weights"], now["weights"], strict),
            *trace_rows(lock["trace"], now["trace"], strict),
            *metric_rows(lock["metrics"], now["metrics"], check, strict)]
    if "onnx" in lock or "onnx" in now:
        graph = lambda lk: (lk.get("onnx") or {}).get("graph_sha256", "(not exported)")  # noqa: E731
        rows.append(exact_row("onnx graph", graph(lock), graph(now), strict))
    changes = recipe_changes(lock["recipe"]["resolved"], now["recipe"]["resolved"])
    return Verdict(mode, reason, differences, changes, rows)
