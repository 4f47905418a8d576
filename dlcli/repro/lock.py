"""Lock files: what a finished run must reproduce, read from its run directory.

A lock holds the recipe (resolved, and its hash), the data and split digests, the environment
the run had, the per-epoch loss trace, the final metrics, the best weights' sha256 and, when the
recipe exports, the ONNX graph hash. `dlcli check` builds the same mapping from a fresh run and
compares the two.
"""
from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, ValidationError

import dlcli
from dlcli.errors import RecipeError, UsageError
from dlcli.fsio import write_json
from dlcli.engine import rundir

FORMAT = 1

def traced(record: dict) -> list[str]:
    """The losses a lock traces: every named train scalar the task logs (train.loss, train.d_loss,
    ...; not the gradient norms a callback adds) and val.loss."""
    return [k for k in record if (k.startswith("train.") and "grad_norm" not in k) or k == "val.loss"]

RELOCK = "the recipe itself is not affected: `dlcli lock RECIPE` trains it and writes a new lock"
RUN_STILL = "lock the recipe instead (`dlcli lock RECIPE` trains it again); the run's other files are untouched"
JSON_TYPES = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string",
              list: "array", dict: "object"}
EXPECTED = {"dict_type": "an object", "model_type": "an object", "list_type": "a list", "string_type": "a string",
            "float_type": "a number", "int_type": "an integer"}


class _Part(BaseModel):
    # strict: "0.9" is not a number and true is not 1; extra keys (newer fields) are ignored
    model_config = ConfigDict(strict=True, extra="allow")


class LockedRecipe(_Part):
    name: str
    sha256: str
    resolved: dict[str, Any]


class LockedOnnx(_Part):
    graph_sha256: Optional[str] = None


class LockFormat(_Part):
    """Every field of a lock that `dlcli check` reads, with its type; checked before training so
    a damaged lock is exit 2 up front rather than a crash after a full re-training."""

    format: int
    recipe: LockedRecipe
    data: str
    splits: str
    environment: dict[str, Any]
    trace: dict[str, list[Optional[float]]]
    metrics: dict[str, float]
    weights: str
    onnx: Optional[LockedOnnx] = None


def default_path(recipe: Path) -> Path:
    """recipes/digits-ci.yaml -> recipes/digits-ci.lock.json"""
    return Path(recipe).with_name(Path(recipe).stem + ".lock.json")


def recipe_view(doc: dict) -> dict:
    """The resolved recipe without where its data files sit (their contents are the data hash),
    so a lock made on one machine fits a clone at another path."""
    view = copy.deepcopy(doc)
    data = view.get("data")
    source = data.get("source") if isinstance(data, dict) else None
    if isinstance(source, dict) and isinstance(source.get("path"), str):
        source["path"] = Path(source["path"]).name
    return view


def recipe_sha256(view: dict) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def epoch_records(path: Path) -> list[dict]:
    """The records of a metrics.jsonl; exit 2 naming the first damaged line."""
    records = []
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            raise UsageError(f"{path} is damaged at line {n} ({e}); {RUN_STILL}") from None
        if not isinstance(record, dict):
            raise UsageError(f"{path} is damaged at line {n} (expected a JSON object); {RUN_STILL}")
        records.append(record)
    return records


def loss_trace(run: Path) -> dict:
    """Per-epoch train (and val) loss from metrics.jsonl, exactly as logged."""
    path = run / "metrics.jsonl"
    records = epoch_records(path) if path.exists() else []
    keys = traced(records[0]) if records else []
    for n, record in enumerate(records, 1):
        if missing := [key for key in keys if key not in record]:
            raise UsageError(f"{path}: record {n} has no {', '.join(missing)}; {RUN_STILL}")
    return {key: [r[key] for r in records] for key in keys}


def flat_metrics(metrics: dict) -> dict:
    """{"test": {"accuracy": 0.9}} -> {"test.accuracy": 0.9}; non-scalar metrics are left out."""
    return {f"{split}.{name}": value for split, values in metrics.items() for name, value in values.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def completed_record(run: Path) -> dict:
    """run.json of a finished run, or exit 2 saying why this run cannot be locked."""
    record = rundir.read_record(run, still=RUN_STILL)
    if record.get("status") != "completed":
        raise UsageError(f"{run} has not completed (status: {record.get('status', 'unknown')}): only a finished "
                         "run can be locked; train it to the end first")
    if "environment" not in record:
        raise UsageError(f"{run} predates environment capture in run.json; train the recipe again to lock it")
    return record


def run_recipe(run: Path) -> dict:
    """The resolved recipe a run saved, or exit 2 when recipe.yaml is damaged."""
    import yaml

    from dlcli.recipe.yamlio import safe_load

    path = run / "recipe.yaml"
    try:
        doc = safe_load(path.read_text(), source=str(path))
    except RecipeError as e:
        raise UsageError(f"{path} is damaged ({'; '.join(p.render() for p in e.problems)}); {RUN_STILL}") from None
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise UsageError(f"{path} is damaged ({type(e).__name__}: {e}); {RUN_STILL}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path} is damaged (expected a mapping of recipe sections); {RUN_STILL}")
    return doc


def lock_from_run(run: Path | str) -> dict:
    """The lock of a finished run directory."""
    run = rundir.open_run(run)
    record = completed_record(run)
    get = lambda *keys: record_field(run, record, *keys)  # noqa: E731
    view = recipe_view(run_recipe(run))
    lock = {
        "format": FORMAT, "dlcli": dlcli.__version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe": {"name": get("name"), "sha256": recipe_sha256(view), "resolved": view},
        "seed": get("seed"), "data": get("data", "digest"), "splits": get("splits", "digest"),
        "environment": get("environment"), "trace": loss_trace(run), "metrics": flat_metrics(record_metrics(run, record)),
        "weights": get("weights", "sha256"), "epochs": get("epochs_completed"),
    }
    export = record.get("export")
    if isinstance(export, dict) and isinstance(export.get("modules"), dict):  # several .onnx files: one line
        modules = export["modules"].items()
        lock["onnx"] = {"graph_sha256": ";".join(f"{stem}={m.get('graph_sha256')}" for stem, m in modules),
                        "opset": next(iter(export["modules"].values())).get("opset"),
                        "exporter": ";".join(f"{stem}={m.get('exporter')}" for stem, m in modules)}
    elif isinstance(export, dict) and export.get("graph_sha256"):
        lock["onnx"] = {key: get("export", key) for key in ("graph_sha256", "opset", "exporter")}
    return lock


def record_field(run: Path, record: dict, *keys: str) -> Any:
    """record[k1][k2]...; a run.json from another tool or version lacking it is exit 2 naming the key."""
    value: Any = record
    for n, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise UsageError(f"{run / 'run.json'} is damaged: it has no {'.'.join(keys[:n + 1])}; {RUN_STILL}")
        value = value[key]
    return value


def record_metrics(run: Path, record: dict) -> dict:
    """run.json's metrics: split -> {name: value}; anything else is a damaged record, not an empty lock."""
    metrics = record_field(run, record, "metrics")
    if not isinstance(metrics, dict) or not all(isinstance(v, dict) for v in metrics.values()):
        raise UsageError(f"{run / 'run.json'} is damaged: metrics is not a mapping of split -> {{metric: value}}; "
                         f"{RUN_STILL}")
    return metrics


def write_lock(path: Path, lock: dict) -> None:
    write_json(path, lock)


def read_lock(path: Path) -> dict:
    """A lock file whose every field `check` reads has the right type, or exit 2 saying why not."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no lock file at {path}: create one with `dlcli lock RECIPE` (or give --lock FILE)")
    try:
        lock = json.loads(path.read_text())
    except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError
        raise UsageError(f"{path} is not a lock file: invalid JSON ({e}); {RELOCK}") from None
    if isinstance(lock, dict) and lock.get("format", FORMAT) != FORMAT:  # another format, another structure
        raise UsageError(f"{path} has lock format {lock['format']!r}; this dlcli reads format {FORMAT}: lock again")
    try:
        LockFormat.model_validate(lock)
    except ValidationError as e:
        raise UsageError(f"{path} is not a usable lock file: {describe_problem(e)}; {RELOCK}") from None
    return lock


def describe_problem(err: ValidationError) -> str:
    """The first bad key path of a lock, what it should be and what it is."""
    problems = err.errors()
    first, more = problems[0], len(problems) - 1
    where = key_path(first["loc"])
    if first["type"] == "missing":
        text = f"missing {where}"
    else:
        expected = EXPECTED.get(first["type"], first["msg"].lower()) if where else "a JSON object"
        got = JSON_TYPES.get(type(first["input"]), type(first["input"]).__name__)
        text = f"{where or 'the document'}: expected {expected}, got {got}"
    return text + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def key_path(loc: tuple) -> str:
    """("metrics", "test.accuracy") -> 'metrics["test.accuracy"]': a dotted key is quoted so it stays one key."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "." in part or not part:
            out += f"[{json.dumps(part)}]"
        else:
            out += f".{part}" if out else part
    return out


def recipe_of_run(run: Path, record: dict) -> Optional[Path]:
    """The recipe file a run was trained from, when it is still there."""
    value = record.get("recipe")
    path = Path(value) if isinstance(value, str) and value else None
    return path if path is not None and path.suffix in (".yaml", ".yml") and path.is_file() else None
