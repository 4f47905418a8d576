"""Element-wise activations and (log-)softmax; every one keeps the shape of its input."""
from __future__ import annotations

from pydantic import Field, model_validator

from dlcli.nn.base import Args, Layer, ShapeError, fmt, layers, one_tensor

# The names an architecture may take as its `activation` (softmax is an output, not one of them).
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "hardtanh")


class _Activation(Layer):
    """Shape-preserving on one tensor; subclasses name the torch.nn class to build."""

    name: str
    torch_name: str

    def shape(self, a, s, ctx):
        return one_tensor(self.name, s)

    def build(self, node, ctx):
        from torch import nn

        return getattr(nn, self.torch_name)(**node.args.model_dump())


@layers.register("relu")
class ReLU(_Activation):
    """max(x, 0), element-wise; shape unchanged."""

    name, torch_name = "relu", "ReLU"


class LeakyReLUArgs(Args):
    slope: float = Field(0.01, ge=0.0, description="gradient for x < 0")


@layers.register("leaky_relu")
class LeakyReLU(_Activation):
    """x for x >= 0, slope * x otherwise (slope 0.01 by default); shape unchanged."""

    Args = LeakyReLUArgs
    main = "slope"
    name, torch_name = "leaky_relu", "LeakyReLU"

    def build(self, node, ctx):
        from torch import nn

        return nn.LeakyReLU(node.args.slope)


class EluArgs(Args):
    alpha: float = Field(1.0, gt=0.0, description="value approached for x -> -inf is -alpha")


@layers.register("elu")
class ELU(_Activation):
    """x for x > 0, alpha * (exp(x) - 1) otherwise; shape unchanged."""

    Args = EluArgs
    main = "alpha"
    name, torch_name = "elu", "ELU"


@layers.register("gelu")
class GELU(_Activation):
    """x * Phi(x), the Gaussian error linear unit (exact, not the tanh approximation); shape unchanged."""

    name, torch_name = "gelu", "GELU"


@layers.register("silu")
class SiLU(_Activation):
    """x * sigmoid(x) (swish); shape unchanged."""

    name, torch_name = "silu", "SiLU"


@layers.register("sigmoid")
class Sigmoid(_Activation):
    """1 / (1 + exp(-x)), element-wise into (0, 1); shape unchanged."""

    name, torch_name = "sigmoid", "Sigmoid"


@layers.register("tanh")
class Tanh(_Activation):
    """Hyperbolic tangent, element-wise into (-1, 1); shape unchanged."""

    name, torch_name = "tanh", "Tanh"


class HardtanhArgs(Args):
    min: float = Field(-1.0, description="lower clamp")
    max: float = Field(1.0, description="upper clamp")

    @model_validator(mode="after")
    def _check(self):
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


@layers.register("hardtanh")
class Hardtanh(_Activation):
    """Clamp x into [min, max] (default [-1, 1]); shape unchanged."""

    Args = HardtanhArgs
    name, torch_name = "hardtanh", "Hardtanh"

    def build(self, node, ctx):
        from torch import nn

        return nn.Hardtanh(node.args.min, node.args.max)


class SoftmaxArgs(Args):
    dim: int = Field(-1, description="per-sample axis (0 = first axis after the batch; -1 = last)")


class _Softmax(Layer):
    """Shared by softmax and log_softmax: `dim` must be an axis of the sample."""

    Args = SoftmaxArgs
    main = "dim"
    name: str

    def shape(self, a, s, ctx):
        s = one_tensor(self.name, s)
        if not -len(s) <= a.dim < len(s):
            raise ShapeError(f"{self.name} dim {a.dim} is not an axis of input {fmt(s)} (valid: {-len(s)} .. {len(s) - 1})")
        return s

    def build(self, node, ctx):
        from dlcli.nn._torch_modules import Softmax

        return Softmax(node.args.dim, log=self.name == "log_softmax")


@layers.register("softmax")
class SoftmaxLayer(_Softmax):
    """exp(x) / sum(exp(x)) along `dim` (default: the last axis), giving probabilities; shape unchanged."""

    name = "softmax"


@layers.register("log_softmax")
class LogSoftmaxLayer(_Softmax):
    """log(softmax(x)) along `dim` (default: the last axis), computed stably; shape unchanged."""

    name = "log_softmax"
