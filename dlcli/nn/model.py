"""A recipe's `model` section -> planned layers -> a torch module.

`model` is a list of layers, `{layers: [...], init: he}`, or a named architecture
`{resnet: {depth: 20}, init: he}`. Architectures expand to layer lists, so one planner and one
builder serve both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from pydantic import ValidationError

from dlcli.errors import Path, Problem
from dlcli.nn.base import Context, Node, Shape, architectures, initializers, plan_layers
from dlcli.recipe.problems import from_validation_error
from dlcli.registry import UnknownName


@dataclass
class ModelPlan:
    nodes: list[Node]
    in_shape: Shape
    out_shape: Shape
    ctx: Context


def expand(spec: Any, ctx: Context, path: Path = ("model",)) -> tuple[Any, Path]:
    """(the layer list a model spec stands for, the key path it came from); sets ctx.init."""
    if isinstance(spec, list):
        return spec, path
    if not isinstance(spec, dict):
        ctx.problems.append(Problem(path, "expected a list of layers or a mapping naming an architecture"))
        return None, path
    rest = dict(spec)
    init = rest.pop("init", None)
    if init is not None:
        if init in initializers:
            ctx.init = init
        else:
            e = UnknownName("initializer", init, initializers.names())
            ctx.problems.append(Problem(path + ("init",), e.message, e.suggestion))
    if "layers" in rest and len(rest) == 1:
        return rest["layers"], path + ("layers",)
    if len(rest) != 1:
        ctx.problems.append(Problem(path, f"name one architecture (or `layers`), got keys {sorted(rest)}"))
        return None, path
    (name, args), = rest.items()
    return expand_architecture(name, args or {}, ctx, path + (name,)), path + (name,)


def expand_architecture(name: str, args: Any, ctx: Context, path: Path) -> Any:
    try:
        arch = architectures.get(name)()
    except UnknownName as e:
        ctx.problems.append(Problem(path, e.message, e.suggestion))
        return None
    if not isinstance(args, dict):
        ctx.problems.append(Problem(path, f"expected a mapping of arguments, got {args!r}"))
        return None
    try:
        return arch.layers(arch.Args(**args))
    except ValidationError as e:
        ctx.problems.extend(from_validation_error(e, path, arch.Args))
    except ValueError as e:
        ctx.problems.append(Problem(path, str(e)))
    return None


def plan_model(spec: Any, in_shape: Shape, outputs: Optional[int]) -> ModelPlan:
    """Plan the whole network; problems (all of them) are in plan.ctx.problems."""
    ctx = Context(outputs=outputs)
    items, path = expand(spec, ctx)
    if items is None:
        return ModelPlan([], in_shape, None, ctx)
    out, nodes = plan_layers(items, in_shape, ctx, path)
    return ModelPlan(nodes, in_shape, out, ctx)


def build_model(plan: ModelPlan) -> Any:
    """The torch module of a problem-free plan."""
    assert not plan.ctx.problems, "build_model needs a plan without problems"
    return plan.ctx.build(plan.nodes)


def count_params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def layer_rows(plan: ModelPlan, module: Any = None, depth: int = 0) -> list[dict]:
    """One row per planned layer (blocks indented): name, output shape, parameter count."""
    from dlcli.nn.base import fmt

    rows: list[dict] = []

    def walk(nodes: list[Node], mods: Any, level: int) -> None:
        for i, node in enumerate(nodes):
            mod = mods[i] if mods is not None else None
            rows.append({"layer": "  " * level + node.name, "path": node.path, "output": fmt(node.out_shape),
                         "params": count_params(mod) if mod is not None else None})
            for kid in node.children:
                walk(kid, None, level + 1)

    walk(plan.nodes, module, depth)
    return rows
