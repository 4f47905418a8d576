"""The JSON Schema of a recipe for editors: the pydantic schema plus every registry's names."""
from __future__ import annotations

from typing import Any


def _layer_item_schema() -> dict:
    """A layer item: a bare name, or {name: main-argument or argument mapping}."""
    from dlcli.nn import layers

    alternatives: list[dict[str, Any]] = [{"enum": layers.names()}]
    for name in layers.names():
        layer = layers.get(name)
        args = layer.Args.model_json_schema()
        value = {"anyOf": [args, {"type": "null"}]} if layer.main is None else {"anyOf": [args, {}]}
        alternatives.append({"type": "object", "properties": {name: {**value, "description": layers.docs()[name]}},
                             "required": [name], "additionalProperties": False})
    return {"anyOf": alternatives}


def _named(registry: Any) -> dict:
    names = registry.names()
    return {"anyOf": [{"enum": names}, {"type": "object", "properties": {"name": {"enum": names}}, "required": ["name"]}]}


def recipe_schema() -> dict:
    import dlcli.data as data
    from dlcli.engine.optimizers import optimizers
    from dlcli.engine.schedules import schedules
    from dlcli.recipe.schema import Recipe
    from dlcli.tasks.losses import losses

    schema = Recipe.model_json_schema()
    schema["title"] = "dlcli recipe"
    props, defs = schema["properties"], schema["$defs"]
    props["model"] = {"description": "a list of layers, {layers: [...], init: ...} or {architecture: {args}}",
                      "anyOf": [{"type": "array", "items": _layer_item_schema()}, {"type": "object"}]}
    defs["Data"]["properties"]["source"] = {"anyOf": [{"enum": data.sources.names()}, {
        "type": "object", "properties": {"type": {"enum": data.sources.names()}}, "required": ["type"]}]}
    defs["Data"]["properties"]["normalize"]["enum"] = data.normalizers.names()
    for key, registry in (("optimizer", optimizers), ("schedule", schedules), ("loss", losses)):
        defs["Train"]["properties"][key] = _named(registry)
    return schema
