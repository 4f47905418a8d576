"""The JSON Schema of a recipe for editors: the pydantic schema plus every registry's names
(the registries come from the vocabulary index, dlcli/vocab.py).

Registered components (optimizers, schedules, losses, augmentations, layers) are described
from their own argument models, so an editor sees each name's arguments with their types,
bounds and defaults, and refuses what `dlcli validate` refuses: an unknown argument, lr <= 0,
a probability above 1. What the schema cannot express (finiteness, cross-argument rules such as
nesterov needing momentum) is still left to `validate`.
"""
from __future__ import annotations

from typing import Any

from dlcli import vocab

INTERPOLATION = {"type": "string", "pattern": r"^\$\{[^}]+\}$", "description": "${vars.NAME} or ${other.path}"}
META = ("title", "description", "default")  # shown by editors on the argument, not inside its anyOf


def _inline_refs(node: Any, defs: dict) -> Any:
    """Replace local `$ref`s by their definitions, so an argument model's schema can be embedded
    anywhere in the recipe's schema (its refs point into its own `$defs`, not the recipe's)."""
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[len("#/$defs/"):] in defs:
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {**_inline_refs(defs[ref[len("#/$defs/"):]], defs), **_inline_refs(rest, defs)}
    return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}


def _interpolable_value(value: dict) -> dict:
    """One argument's schema, which may also be written as an interpolation (`lr: ${vars.lr}`)."""
    meta = {k: value[k] for k in META if k in value}
    return {"anyOf": [{k: v for k, v in value.items() if k not in META}, INTERPOLATION], **meta}


def _interpolable(args: dict) -> dict:
    """Each argument may also be written as an interpolation, e.g. `out: ${vars.width}`."""
    props = {k: _interpolable_value(v) for k, v in args.get("properties", {}).items()}
    return {**args, "properties": props} if props else args


def plain_args_schema(model: Any) -> dict:
    """The JSON Schema of an argument model with its `$ref`s inlined (for `dlcli ls NAME`)."""
    raw = model.model_json_schema()
    return _inline_refs(raw, raw.get("$defs", {}))


def args_schema(model: Any) -> dict:
    """The JSON Schema of a component's argument model: self-contained, interpolable, closed."""
    return {**_interpolable(plain_args_schema(model)), "type": "object", "additionalProperties": False}


def _layer_item_schema() -> dict:
    """A layer item: a bare name, or {name: main-argument or argument mapping}."""
    layers = vocab.registry("layers")
    alternatives: list[dict[str, Any]] = [{"enum": layers.names()}]
    tasks = vocab.registry("tasks")
    for marker in sorted({tasks.get(n).split_at for n in tasks.names() if tasks.get(n).split_at}):
        alternatives.append({"const": marker, "description": "where the first of a task's two networks ends and the "
                             "second begins, in one `model:` list (an autoencoder's encoder and decoder)"})
    for name in layers.names():
        layer = layers.get(name)
        args = args_schema(layer.Args)
        # a main argument is a scalar or a list (never a mapping), so a mapping is always checked as Args
        value = {"anyOf": [args, {"type": "null"}]} if layer.main is None else {"anyOf": [args, {"not": {"type": "object"}}]}
        alternatives.append({"type": "object", "properties": {name: {**value, "description": layers.docs()[name]}},
                             "required": [name], "additionalProperties": False})
    return {"anyOf": alternatives}


def _augment_item_schema() -> dict:
    """An augmentation item: `hflip`, `{random_shift: 2}` (its main argument), `{cutout: {size: 4}}`
    or `{hflip: null}` (every argument at its default)."""
    augmentations = vocab.registry("augmentations")
    docs = augmentations.docs()
    alternatives: list[dict[str, Any]] = [{"enum": augmentations.names()}]
    for name in augmentations.names():
        aug = augmentations.get(name)
        args = args_schema(aug.Args)
        forms = [args, {"type": "null"}]
        if aug.main is not None:  # the main argument's own schema, bounds included
            forms.append(args["properties"][aug.main])
        alternatives.append({"type": "object", "properties": {name: {"anyOf": forms, "description": docs[name]}},
                             "required": [name], "additionalProperties": False})
    return {"anyOf": alternatives}


def component_schema(registry: Any, nullable: bool = False) -> dict:
    """`name` or `{name: NAME, args...}`: one closed alternative per registered name, with the
    arguments of that name's model (e.g. {name: adam, lr: -1} and {name: adam, lrr: 1} fail)."""
    docs = registry.docs()
    alternatives: list[dict[str, Any]] = [{"enum": registry.names(), "description": "a name, every argument at its default"}]
    for name in registry.names():
        args = args_schema(registry.get(name).Args)
        alternatives.append({"type": "object", "title": name, "description": docs[name],
                             "properties": {"name": {"const": name}, **args.get("properties", {})},
                             "required": ["name"], "additionalProperties": False})
    if nullable:
        alternatives.append({"type": "null"})
    return {"anyOf": alternatives}


def recipe_schema() -> dict:
    from dlcli.recipe.schema import Recipe

    schema = Recipe.model_json_schema()
    schema["title"] = "dlcli recipe"
    # a recipe that `extends` a base may take data and model from it
    schema["required"] = [k for k in schema.get("required", []) if k not in ("data", "model")]
    schema["if"] = {"not": {"required": ["extends"]}}
    schema["then"] = {"required": ["data"], "anyOf": [{"required": ["model"]}, {"required": ["models"]}]}
    schema["required"] = [k for k in schema.get("required", []) if k != "name"]  # name defaults to the file stem
    props, defs = schema["properties"], schema["$defs"]
    props["model"] = {"description": "a list of layers, {layers: [...], init: ...}, {architecture: {args}} or an "
                      "architecture's name (its defaults)",
                      "anyOf": [{"type": "array", "items": _layer_item_schema()}, {"type": "object"},
                                {"enum": vocab.registry("architectures").names()}]}
    sources = vocab.registry("datasets").names()
    defs["Data"]["properties"]["source"] = {"anyOf": [{"enum": sources}, {
        "type": "object", "properties": {"type": {"enum": sources}}, "required": ["type"]}]}
    defs["Data"]["properties"]["normalize"]["enum"] = vocab.registry("normalizations").names()
    augment = defs["Data"]["properties"]["augment"]
    defs["Data"]["properties"]["augment"] = {**augment, "items": _augment_item_schema()}
    train = defs["Train"]["properties"]
    for v in vocab.VOCABULARIES:  # optimizer, schedule, loss: a name or {name: NAME, args...}
        for key in (path[1] for path in v.args_at if path[0] == "train"):
            meta = {k: train[key][k] for k in ("description", "default") if k in train[key]}
            train[key] = {**component_schema(v.registry(), nullable=key == "loss"), **meta}
    defs["Search"]["properties"]["sampler"]["enum"] = vocab.registry("samplers").names()
    defs["Search"]["properties"]["pruner"] = {"anyOf": [{"enum": vocab.registry("pruners").names()}, {"type": "null"}]}
    return schema
