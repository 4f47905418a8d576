"""Networks: layers with inferred input sizes, blocks, named architectures, initialisers."""
from dlcli.nn.base import Context, Node, Shape, ShapeError, architectures, initializers, layers  # noqa: F401
