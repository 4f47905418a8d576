"""The layer protocol, the plan (shapes inferred in pure Python) and the builder.

A model spec is a list of layer items. `plan()` walks it with the input shape, validating each
layer's arguments and inferring every output shape without torch, so `dlcli validate` can check
a network in milliseconds. `build()` turns a plan into torch modules.

Shapes are per sample (no batch axis): a tuple of ints, with None for a dynamic axis such as
sequence length. A layer with several outputs yields a list of shapes (see `select`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from pydantic import ValidationError

from dlcli import grammar
from dlcli.components import Strict
from dlcli.errors import Path, Problem
from dlcli.recipe.problems import from_validation_error
from dlcli.registry import Registry, UnknownName

Shape = Union[tuple, list]  # tuple[int | None, ...] for one tensor, list[Shape] for several

layers = Registry("layer")
architectures = Registry("architecture")
initializers = Registry("initializer")

# Planning recurses once per block inside a block, and `repeat` multiplies layers: beyond these,
# a recipe describes no network anyone trains, and would exhaust the stack or the clock.
MAX_DEPTH = 16  # blocks nested inside blocks (a U-Net nests 5 to 10)
MAX_LAYERS = 20_000  # layers planned in all, repetitions and blocks' bodies included (a resnet-110 plans 383)


class Args(Strict):
    """Base of every layer's and architecture's argument model (`{conv2d: {out: 8}}`)."""


class NoArgs(Args):
    pass


class ShapeError(ValueError):
    """A layer cannot take the shape it is given; the message names both shapes."""


def fmt(shape: Shape) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(fmt(s) for s in shape) + "]"
    return "(" + ", ".join("T" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def one_tensor(name: str, shape: Shape, ndim: int | tuple[int, ...] | None = None, what: str = "") -> tuple:
    """Check that `shape` is a single tensor (of `ndim` axes); return it."""
    if isinstance(shape, list):
        raise ShapeError(f"{name} takes one tensor but gets {len(shape)} outputs {fmt(shape)}; add `select: i` before it")
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if dims is not None and len(shape) not in dims:
        raise ShapeError(f"{name} needs input {what or f'with {ndim} axes'} but gets {fmt(shape)}")
    return shape


class Layer:
    """A registered layer type. Subclasses set Args (and `main`, the key a bare argument fills),
    implement `shape` (pure Python) and `build` (imports torch lazily)."""

    Args: ClassVar[type[Args]] = NoArgs
    main: ClassVar[str | None] = None
    has_weights: ClassVar[bool] = False
    unrolls_time: ClassVar[bool] = False  # a Python loop over T: an exported graph fixes the sequence length

    def shape(self, a: Any, s: Shape, ctx: "Context") -> Shape:
        return s

    def children(self, a: Any, s: Shape, ctx: "Context", path: Path) -> tuple[Shape, list[list["Node"]]]:
        """Blocks override this to plan their sub-networks; plain layers have none."""
        return self.shape(a, s, ctx), []

    def build(self, node: "Node", ctx: "Context") -> Any:
        raise NotImplementedError


@dataclass
class Node:
    """One planned layer: its arguments, shapes and, for blocks, the planned sub-networks."""

    name: str
    path: Path
    args: Any
    in_shape: Shape
    out_shape: Shape
    children: list[list["Node"]] = field(default_factory=list)

    @property
    def layer(self) -> Layer:
        return layers.get(self.name)()


@dataclass
class Budget:
    """Layers left to plan, shared by every context of one model (trial plans included)."""

    left: int

    def spend(self) -> bool:
        """Take one layer; False once there is none left."""
        self.left -= 1
        return self.left >= 0

    @property
    def spent(self) -> bool:
        return self.left < 0


@dataclass
class Context:
    """What layers may consult: the output size behind `auto`, the data's vocabulary size (the
    token ids an embedding looks up, when the data has them), the encoder output a decoder attends
    over (cross_attention), the model-wide initialiser, and the problems found so far (planning
    goes on after an error to report them all)."""

    outputs: int | None = None
    vocab: int | None = None
    init: str | None = None
    memory: Shape | None = None  # per-sample shape of the encoder output a seq2seq decoder's layers attend over
    problems: list[Problem] = field(default_factory=list)
    depth: int = 0  # layer lists being planned, one inside the other
    budget: Budget = field(default_factory=lambda: Budget(MAX_LAYERS))

    def plan(self, items: Any, shape: Shape, path: Path) -> tuple[Shape, list[Node]]:
        return plan_layers(items, shape, self, path)

    def build(self, nodes: list[Node]) -> Any:
        return build_sequential(nodes, self)

    def scratch(self) -> "Context":
        """A context for trial plans whose problems are discarded; it spends the same budget."""
        return Context(outputs=self.outputs, vocab=self.vocab, memory=self.memory, depth=self.depth,
                       budget=self.budget)


def parse_item(item: Any) -> tuple[str, dict]:
    """A layer item -> (name, args): `relu`, `{linear: 10}`, `{conv2d: {out: 8}}`."""
    name, raw, _ = grammar.parse_item(item, layers, "layer")
    return name, raw


def plan_item(item: Any, shape: Shape, ctx: Context, path: Path) -> tuple[Shape, Node | None]:
    if not ctx.budget.spend():  # plan_model reports it once
        return None, None
    try:
        name, raw = parse_item(item)
    except UnknownName as e:
        ctx.problems.append(Problem(path, e.message, e.suggestion))
        return None, None
    except ValueError as e:
        ctx.problems.append(Problem(path, str(e)))
        return None, None
    layer = layers.get(name)()
    try:
        args = layer.Args(**raw)
    except ValidationError as e:
        ctx.problems.extend(from_validation_error(e, path + (name,), layer.Args))
        return None, None
    if shape is None:  # an earlier layer failed: its output shape is unknown
        return None, Node(name, path, args, None, None)
    try:
        out, kids = layer.children(args, shape, ctx, path + (name,))
    except ShapeError as e:
        ctx.problems.append(Problem(path + (name,), str(e)))
        return None, Node(name, path, args, shape, None)
    return out, Node(name, path, args, shape, out, kids)


def plan_layers(items: Any, shape: Shape, ctx: Context, path: Path, first: int = 0) -> tuple[Shape, list[Node]]:
    """Plan a list of layer items from `shape`; problems go to ctx.problems. The items are at
    path + (first + i,)."""
    if not isinstance(items, list):
        ctx.problems.append(Problem(path, f"expected a list of layers, got {type(items).__name__}"))
        return None, []
    if ctx.depth > MAX_DEPTH:
        message = (f"blocks nest more than {MAX_DEPTH} deep here; no network needs that many blocks inside blocks: "
                   "write them one after another, or use `repeat`")
        if all(p.message != message for p in ctx.problems):  # once, not once per branch at that depth
            ctx.problems.append(Problem(path, message))
        return None, []
    ctx.depth += 1
    try:
        nodes = []
        for i, item in enumerate(items):
            if ctx.budget.spent:
                return None, nodes
            shape, node = plan_item(item, shape, ctx, path + (first + i,))
            if node is not None:
                nodes.append(node)
        return shape, nodes
    finally:
        ctx.depth -= 1


def build_node(node: Node, ctx: Context) -> Any:
    module = node.layer.build(node, ctx)
    init = getattr(node.args, "init", None) or ctx.init
    if init and node.layer.has_weights and any(True for _ in module.parameters()):
        initializers.get(init)(module, node)
    return module


def build_sequential(nodes: list[Node], ctx: Context) -> Any:
    from torch import nn

    return nn.Sequential(*[build_node(n, ctx) for n in nodes])
