"""dlcli show (resolved recipe + layer table) and dlcli schema (JSON Schema for editors)."""
from __future__ import annotations

import sys

from dlcli.cli.options import Json, RecipeArg, Sets

SHOW_EXAMPLE = "Example: dlcli show recipes/digits-cnn.yaml --set vars.width=64"
SCHEMA_EXAMPLE = "Example: dlcli schema > recipe.schema.json"


def show(recipe: RecipeArg, set_: Sets = None, json: Json = False) -> None:
    """Print the resolved recipe and the network: each layer's output shape and parameters."""
    from rich.syntax import Syntax

    from dlcli.nn.model import build_model, count_params, layer_rows
    from dlcli.recipe.check import load_recipe
    from dlcli.recipe.yamlio import dump
    from dlcli.report.console import console, print_json

    r = load_recipe(recipe, set_ or [])
    networks = {}
    for name, plan in r.parts.plans.items():
        module = build_model(plan)
        networks[name] = {"layers": [{**row, "path": list(row["path"])} for row in layer_rows(plan, module)],
                          "parameters": count_params(module), "input": list(plan.in_shape)}
    if json:  # `layers` and `parameters` over every network the recipe writes (a task's own heads are not)
        print_json({"recipe": r.doc, "layers": [row for n in networks.values() for row in n["layers"]],
                    "parameters": sum(n["parameters"] for n in networks.values()), "networks": networks})
        return
    con = console()
    if con.is_terminal:
        con.print(Syntax(dump(r.doc), "yaml", background_color="default"))
    else:  # piped: the YAML exactly, never re-wrapped to a console width
        sys.stdout.write(dump(r.doc) + "\n")
    for name, net in networks.items():
        con.print(layer_table(f"{r.recipe.name}" + (f" {name}" if len(networks) > 1 else "") +
                              f": input {tuple(net['input'])}", net))


def layer_table(title: str, net: dict):
    from rich.table import Table

    table = Table(title=title)
    for col, justify in (("layer", "left"), ("output", "left"), ("params", "right")):
        table.add_column(col, justify=justify)
    for row in net["layers"]:
        table.add_row(row["layer"], row["output"], "" if row["params"] is None else f"{row['params']:,}")
    table.add_section()
    table.add_row("total", "", f"{net['parameters']:,}")
    return table


def schema() -> None:
    """Print the JSON Schema of a recipe (for editor completion and validation)."""
    from dlcli.recipe.jsonschema import recipe_schema
    from dlcli.report.console import print_json

    print_json(recipe_schema())
