"""dlcli ls (every vocabulary, or one entry with its arguments) and dlcli doctor (what would run where).

Descriptions are docstrings and may hold brackets (`[min, max]`), so every printed string is
escaped from rich markup. Nothing here imports torch: argument tables come from the pydantic
argument models, which the registries hold without building anything.
"""
from __future__ import annotations

import json as jsonlib
from typing import Annotated, Any, Optional

import typer

from dlcli import vocab
from dlcli.cli.options import Json

EXAMPLE = "Example: dlcli ls layers   |   dlcli ls layers gru   |   dlcli ls optimizers adamw --json"
DOCTOR_EXAMPLE = "Example: dlcli doctor --json"


def vocabulary_help() -> str:
    """`layers, architectures, ... or pruners.`: every vocabulary of the index, in its order."""
    *first, last = vocab.names()
    return f"{', '.join(first)} or {last}."


VOCABULARY_HELP = vocabulary_help()


def registry_of(vocabulary: str) -> Any:
    """The registry named `vocabulary`; a UsageError with the nearest vocabulary otherwise."""
    from dlcli.errors import UsageError
    from dlcli.registry import closest

    if vocab.find(vocabulary) is None:
        near = closest(vocabulary, vocab.names())
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise UsageError(f"unknown vocabulary '{vocabulary}'{hint} (one of: {', '.join(vocab.names())})")
    return vocab.registry(vocabulary)


def entry_of(registry: Any, vocabulary: str, name: str) -> Any:
    """The entry `name` of a registry; a UsageError with the nearest name otherwise."""
    from dlcli.errors import UsageError
    from dlcli.registry import UnknownName

    try:
        return registry.get(name)
    except UnknownName as e:
        raise UsageError(f"{e.message} (`dlcli ls {vocabulary}` lists them)") from None


# ---------------------------------------------------------------------------- one entry's arguments


def _number(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def type_text(s: dict) -> str:
    """A field's JSON Schema as a short type: `number`, `[number, number]`, `"zeros" | "reflect"`."""
    if "const" in s:
        return jsonlib.dumps(s["const"])
    if "enum" in s:
        return " | ".join(jsonlib.dumps(v) for v in s["enum"])
    if "anyOf" in s:
        return " | ".join(dict.fromkeys(type_text(a) for a in s["anyOf"]))
    if s.get("type") == "array":
        if "prefixItems" in s:
            return "[" + ", ".join(type_text(i) for i in s["prefixItems"]) + "]"
        return f"list[{type_text(s['items'])}]" if "items" in s else "list"
    return {"object": "mapping"}.get(s.get("type"), s.get("type") or "any")


def _interval(s: dict) -> str:
    """Numeric bounds of one schema node: `[0, 1)`, `> 0`, `<= 180`, or ''."""
    lo = ("[", s["minimum"]) if "minimum" in s else ("(", s["exclusiveMinimum"]) if "exclusiveMinimum" in s else None
    hi = ("]", s["maximum"]) if "maximum" in s else (")", s["exclusiveMaximum"]) if "exclusiveMaximum" in s else None
    if lo and hi:
        return f"{lo[0]}{_number(lo[1])}, {_number(hi[1])}{hi[0]}"
    if lo:
        return f"{'>=' if lo[0] == '[' else '>'} {_number(lo[1])}"
    if hi:
        return f"{'<=' if hi[0] == ']' else '<'} {_number(hi[1])}"
    return ""


def _length(s: dict) -> str:
    lo, hi = s.get("minLength", s.get("minItems")), s.get("maxLength", s.get("maxItems"))
    if lo is None and hi is None or "prefixItems" in s:  # a tuple's length is in its type
        return ""
    if lo == hi:
        return f"length {lo}"
    return f"length >= {lo}" if hi is None else f"length <= {hi}" if lo is None else f"length {lo} to {hi}"


def bounds_text(s: dict) -> str:
    """Every bound of a field, through Optional and list items: `> 0`, `each [0, 1)`, `length 1`."""
    parts = [_interval(s), _length(s), *(bounds_text(alt) for alt in s.get("anyOf", []))]
    items = s.get("prefixItems") or ([s["items"]] if isinstance(s.get("items"), dict) else [])
    inner = list(dict.fromkeys(bounds_text(i) for i in items))
    if len(inner) == 1 and inner[0]:
        parts.append(f"each {inner[0]}")
    elif len(inner) > 1:  # a tuple whose items differ: one bound per position
        parts.append("items " + "; ".join(b or "any" for b in inner))
    return ", ".join(dict.fromkeys(p for p in parts if p))


def argument_rows(model: Any) -> list[dict]:
    """Each argument of a pydantic argument model: name, type, bounds, default, description."""
    from pydantic_core import to_jsonable_python

    from dlcli.recipe.jsonschema import plain_args_schema

    props = plain_args_schema(model).get("properties", {})
    rows = []
    for name, field in model.model_fields.items():
        s = props.get(name, {})
        required = field.is_required()
        default = None if required else to_jsonable_python(field.get_default(call_default_factory=True))
        rows.append({"name": name, "type": type_text(s), "bounds": bounds_text(s), "required": required,
                     "default": default, "description": field.description or ""})
    return rows


def describe(vocabulary: str, name: str, entry: Any) -> dict:
    """One entry as a document: its whole docstring, its main argument and every argument."""
    import inspect

    args = getattr(entry, "Args", None)
    doc = {"vocabulary": vocabulary, "name": name, "description": inspect.getdoc(entry) or "",
           "main": getattr(entry, "main", None), "arguments": argument_rows(args) if args is not None else []}
    example = getattr(entry, "example", "")
    return {**doc, "example": example.strip()} if isinstance(example, str) and example.strip() else doc


def default_text(row: dict) -> str:
    """A default as a user would write it in YAML: `0.001`, `[0.9, 0.999]`, `null`, `val.loss`."""
    if row["required"]:
        return "required"
    value = row["default"]
    return value if isinstance(value, str) else jsonlib.dumps(value)


def print_entry(doc: dict) -> None:
    """One entry for a reader: every string escaped, since docstrings hold brackets."""
    from rich.markup import escape

    from dlcli.report.console import console

    con = console()
    con.print(f"[bold]{escape(doc['name'])}[/bold] ({escape(doc['vocabulary'])})")
    con.print(escape(doc["description"]) or "(no description)")
    if doc["main"]:
        con.print(f"main argument: {escape(doc['main'])} (`{escape(doc['name'])}: VALUE` sets it)")
    if not doc["arguments"]:
        con.print("no arguments")
    else:
        print_arguments(con, doc["arguments"])
    if doc.get("example"):
        con.print("a small recipe that trains it:")
        con.print(escape(doc["example"]), soft_wrap=True)


def print_arguments(con: Any, rows: list) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="arguments")
    for column in ("argument", "type", "bounds", "default", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(v)) for v in (row["name"], row["type"], row["bounds"], default_text(row),
                                                  row["description"])))
    con.print(table)


# --------------------------------------------------------------------------------------- dlcli ls


def print_vocabulary(vocabulary: str, registry: Any) -> None:
    """One row per name: its arguments (main one first) and its description."""
    from rich.markup import escape
    from rich.table import Table

    from dlcli.report.console import console

    table = Table(title=vocabulary)
    for column in ("name", "arguments", "description"):
        table.add_column(column)
    for name, doc in registry.docs().items():
        entry = registry.get(name)
        fields = list(getattr(getattr(entry, "Args", None), "model_fields", {}))
        main = getattr(entry, "main", None)
        fields = ([main] if main in fields else []) + [f for f in fields if f != main]
        table.add_row(escape(name), escape(", ".join(fields)), escape(doc))
    console().print(table)


def ls(
    vocabulary: Annotated[str, typer.Argument(help=VOCABULARY_HELP, show_default=False)],
    name: Annotated[Optional[str], typer.Argument(help="One entry: its description and every argument with its "
                                                  "type, bounds and default.", show_default=False)] = None,
    json: Json = False,
) -> None:
    """List the names a recipe may use for one vocabulary, or describe one name and its arguments."""
    from dlcli.report.console import print_json

    registry = registry_of(vocabulary)
    if name is not None:
        doc = describe(vocabulary, name, entry_of(registry, vocabulary, name))
        if json:
            print_json(doc)
        else:
            print_entry(doc)
    elif json:
        print_json(registry.docs())
    else:
        print_vocabulary(vocabulary, registry)


def doctor(json: Json = False) -> None:
    """Report versions and devices: what a recipe with device auto would run on."""
    from dlcli.engine.device import autocast_dtype, pick_device
    from dlcli.engine.env import device_info, versions
    from dlcli.report.console import console, print_json
    from dlcli.runtime import decision

    import torch

    device = pick_device("auto")
    report = {"versions": versions(), "device": device_info(device),
              "precision": str(autocast_dtype(device, "auto") or "float32"),
              "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
              "openmp": dict(decision)}
    if json:
        print_json(report)
        return
    for key, value in {**report["versions"], "device": device.type, "precision": report["precision"],
                       "threads": report["device"]["threads"], "cuda devices": len(report["cuda_devices"]),
                       "omp wait": decision.get("omp_wait_policy", "default")}.items():
        console().print(f"{key:>12}: {value}")
