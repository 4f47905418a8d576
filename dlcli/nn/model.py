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
from dlcli.nn.base import MAX_LAYERS, Context, Node, Shape, architectures, initializers, layers, plan_layers
from dlcli.recipe.problems import from_validation_error
from dlcli.registry import UnknownName, closest


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
    if isinstance(spec, str):  # `model: logistic_regression`: that architecture with its defaults
        return expand_bare(spec, ctx, path), path + (spec,)
    if not isinstance(spec, dict):
        ctx.problems.append(Problem(path, "expected a list of layers, a mapping naming an architecture or an "
                                    f"architecture name, got {spec!r}"))
        return None, path
    rest = dict(spec)
    init = rest.pop("init", None)
    if isinstance(init, str) and init in initializers:
        ctx.init = init
    elif isinstance(init, str):
        e = UnknownName("initializer", init, initializers.names())
        ctx.problems.append(Problem(path + ("init",), e.message, e.suggestion))
    elif init is not None:
        names = ", ".join(initializers.names())
        ctx.problems.append(Problem(path + ("init",), f"expected an initializer name ({names}), got {init!r}"))
    if "layers" in rest and len(rest) == 1:
        return rest["layers"], path + ("layers",)
    if len(rest) != 1:
        ctx.problems.append(Problem(path, f"name one architecture (or `layers`), got keys {sorted(map(str, rest))}"))
        return None, path
    (name, args), = rest.items()
    return expand_architecture(name, args or {}, ctx, path + (name,)), path + (name,)


def expand_bare(name: str, ctx: Context, path: Path) -> Any:
    """The layers of the architecture `name`, or one problem naming the nearest architecture or layer."""
    if name in architectures:
        return expand_architecture(name, {}, ctx, path + (name,))
    if name in layers:
        ctx.problems.append(Problem(path, f"'{name}' is a layer, not an architecture: a sequential model is a "
                                    f"list of layers, e.g. `model: [{name}]`"))
        return None
    near = closest(name, architectures.names() + layers.names())
    kind = "a layer" if near and near[0] in layers else "an architecture"
    hint = f"; did you mean '{near[0]}' ({kind})?" if near else ""
    names = ", ".join(architectures.names())
    ctx.problems.append(Problem(path, f"unknown architecture '{name}' (architectures: {names}; a sequential model is "
                                f"a list of layers){hint}"))
    return None


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


def plan_model(spec: Any, in_shape: Shape, outputs: Optional[int], at: Path = ("model",), first: int = 0,
               vocab: Optional[int] = None, memory: Optional[Shape] = None) -> ModelPlan:
    """Plan the whole network written at key path `at`; problems (all of them) are in plan.ctx.problems.
    `first`: the index its first layer has in the list written there (a part of a longer list).
    `vocab`: the data's number of token ids, which embeddings without their own `vocab` take.
    `memory`: the per-sample shape of the encoder output its cross-attention layers read (a decoder)."""
    ctx = Context(outputs=outputs, vocab=vocab, memory=memory)
    items, path = expand(spec, ctx, at)
    if items is None:
        return ModelPlan([], in_shape, None, ctx)
    out, nodes = plan_layers(items, in_shape, ctx, path, first)
    if ctx.budget.spent:
        ctx.problems.append(Problem(path, f"the model plans more than {MAX_LAYERS} layers (repetitions and "
                                    "blocks included); no network needs that many: lower a `repeat`'s times"))
        return ModelPlan(nodes, in_shape, None, ctx)
    for node, before in float_fed_embeddings(nodes):
        ctx.problems.append(Problem(node.path + (node.name,), f"{'an embedding' if node.name == 'embedding' else 'gpt'} looks up integer token ids, but here "
                                    f"it comes after `{before}`, whose outputs are floats: put it first (only "
                                    f"{', '.join(sorted(KEEP_VALUES))} may come before it)"))
    return ModelPlan(nodes, in_shape, out, ctx)


# Layers that move the data's values around without changing them: token ids pass through intact.
KEEP_VALUES = {"flatten", "reshape", "select"}
TOKEN_READERS = {"embedding", "gpt"}  # layers that look their inputs up as integer token ids


def embedding_inputs(nodes: list[Node], before: Optional[str] = None) -> tuple[list, Optional[str]]:
    """([(embedding node, what feeds it)], what feeds the layer after `nodes`). "What feeds" is the
    name of the last layer that changed the values, or None while they are still the data's own."""
    found: list = []
    for node in nodes:
        if node.name in TOKEN_READERS:
            found.append((node, before))
        if node.name == "repeat":  # the copies run one after another
            for kids in node.children:
                more, before = embedding_inputs(kids, before)
                found += more
            continue
        for kids in node.children:  # a residual's or parallel's bodies all get the block's input
            found += embedding_inputs(kids, before)[0]
        if node.name not in KEEP_VALUES:
            before = node.name
    return found, before


def float_fed_embeddings(nodes: list[Node]) -> list[tuple[Node, str]]:
    """The embeddings that get another layer's float outputs instead of the data's token ids."""
    return [(node, before) for node, before in embedding_inputs(nodes)[0] if before is not None]


def reads_token_ids(plan: "ModelPlan") -> bool:
    """Whether an embedding looks up the data's own values (which normalisation would destroy)."""
    return any(before is None for _, before in embedding_inputs(plan.nodes)[0])


def all_nodes(nodes: list[Node]) -> list[Node]:
    """Every planned node, blocks' bodies included, in order."""
    out: list[Node] = []
    for node in nodes:
        out.append(node)
        for kids in node.children:
            out += all_nodes(kids)
    return out


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
