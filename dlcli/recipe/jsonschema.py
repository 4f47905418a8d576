"""The JSON Schema of a recipe for editors: the pydantic schema plus every registry's names."""
from __future__ import annotations

from typing import Any


def _layer_item_schema() -> dict:
    """A layer item: a bare name, or {name: main-argument or argument mapping}."""
    from dlcli.nn import layers

    alternatives: list[dict[str, Any]] = [{"enum": layers.names()}]
    for name in layers.names():
        layer = layers.get(name)
        args = _interpolable(layer.Args.model_json_schema())
        # a main argument is a scalar or a list (never a mapping), so a mapping is always checked as Args
        value = {"anyOf": [args, {"type": "null"}]} if layer.main is None else {"anyOf": [args, {"not": {"type": "object"}}]}
        alternatives.append({"type": "object", "properties": {name: {**value, "description": layers.docs()[name]}},
                             "required": [name], "additionalProperties": False})
    return {"anyOf": alternatives}


INTERPOLATION = {"type": "string", "pattern": r"^\$\{[^}]+\}$", "description": "${vars.NAME} or ${other.path}"}


def _interpolable(args: dict) -> dict:
    """Each argument may also be written as an interpolation, e.g. `out: ${vars.width}`."""
    props = {k: {"anyOf": [v, INTERPOLATION]} for k, v in args.get("properties", {}).items()}
    return {**args, "properties": props} if props else args


def _named(registry: Any) -> dict:
    names = registry.names()
    return {"anyOf": [{"enum": names}, {"type": "object", "properties": {"name": {"enum": names}}, "required": ["name"]}]}


def recipe_schema() -> dict:
    import dlcli.data as data
    from dlcli.engine.optimizers import optimizers
    from dlcli.engine.schedules import schedules
    from dlcli.recipe.schema import Recipe
    from dlcli.search.pruners import pruners
    from dlcli.search.samplers import samplers
    from dlcli.tasks.losses import losses

    schema = Recipe.model_json_schema()
    schema["title"] = "dlcli recipe"
    # a recipe that `extends` a base may take data and model from it
    schema["required"] = [k for k in schema.get("required", []) if k not in ("data", "model")]
    schema["if"] = {"not": {"required": ["extends"]}}
    schema["then"] = {"required": ["data", "model"]}
    schema["required"] = [k for k in schema.get("required", []) if k != "name"]  # name defaults to the file stem
    props, defs = schema["properties"], schema["$defs"]
    props["model"] = {"description": "a list of layers, {layers: [...], init: ...} or {architecture: {args}}",
                      "anyOf": [{"type": "array", "items": _layer_item_schema()}, {"type": "object"}]}
    defs["Data"]["properties"]["source"] = {"anyOf": [{"enum": data.sources.names()}, {
        "type": "object", "properties": {"type": {"enum": data.sources.names()}}, "required": ["type"]}]}
    defs["Data"]["properties"]["normalize"]["enum"] = data.normalizers.names()
    for key, registry in (("optimizer", optimizers), ("schedule", schedules), ("loss", losses)):
        defs["Train"]["properties"][key] = _named(registry)
    defs["Search"]["properties"]["sampler"]["enum"] = samplers.names()
    defs["Search"]["properties"]["pruner"] = {"anyOf": [{"enum": pruners.names()}, {"type": "null"}]}
    return schema
