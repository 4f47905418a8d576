"""dlcli validate: check a recipe, infer every layer's shape, never import torch."""
from __future__ import annotations

from dlcli.cli.options import Json, RecipeArg, Sets

EXAMPLE = "Example: dlcli validate recipes/digits-cnn.yaml --set vars.width=64"


def validate(recipe: RecipeArg, set_: Sets = None, json: Json = False) -> None:
    """Check a recipe: schema, names, data files and every layer's inferred shape (exit 2 on errors)."""
    from dlcli.recipe.check import load_recipe
    from dlcli.nn.base import fmt
    from rich.markup import escape

    from dlcli.report.console import console, err_console, print_json

    r = load_recipe(recipe, set_ or [])
    for warning in r.warnings:  # stderr, so --json output stays one document
        err_console().print(escape(warning), soft_wrap=True)
    summary = {"recipe": str(recipe), "name": r.recipe.name, "valid": True, "task": r.task,
               "input_shape": list(r.plan.in_shape), "output_shape": list(r.plan.out_shape), "layers": len(r.plan.nodes),
               "warnings": r.warnings,
               "networks": {name: {"input_shape": list(p.in_shape), "output_shape": list(p.out_shape), "layers": len(p.nodes)}
                            for name, p in r.parts.plans.items()}}
    if json:
        print_json(summary)
    elif len(r.parts.plans) == 1:
        console().print(f"{recipe}: ok ({r.task}, input {fmt(tuple(r.plan.in_shape))} -> output {fmt(r.plan.out_shape)})")
    else:
        nets = ", ".join(f"{name} {fmt(tuple(p.in_shape))} -> {fmt(p.out_shape)}" for name, p in r.parts.plans.items())
        console().print(f"{recipe}: ok ({r.task}: {nets})")
