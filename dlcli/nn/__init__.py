"""Networks: layers with inferred input sizes, blocks, named architectures, initialisers.

Importing this package fills the registries; it never imports torch (only `build` does).
"""
from dlcli.nn import (  # noqa: F401
    activations, attention, blocks, conv, cross_attention, dense, gpt, init, norm, ntm, recurrent, zoo)
from dlcli.nn.base import Context, Node, Shape, ShapeError, architectures, initializers, layers  # noqa: F401
from dlcli.nn.model import ModelPlan, build_model, plan_model  # noqa: F401
