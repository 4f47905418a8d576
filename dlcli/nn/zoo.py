"""Named architectures: each expands to the plain layer list a user could write in the recipe."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from dlcli.nn.activations import ACTIVATIONS
from dlcli.nn.base import Args, NoArgs, architectures
from dlcli.nn.gpt import GPTArgs

Activation = Literal[ACTIVATIONS]  # type: ignore[valid-type]


class MLPArgs(Args):
    hidden: list[int] = Field([128, 64], description="width of each hidden layer")
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="after each hidden activation; 0 = none")
    batchnorm: bool = Field(False, description="batchnorm between each hidden linear and its activation")

    @field_validator("hidden")
    @classmethod
    def _positive(cls, hidden):
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden widths must be positive, got {hidden}")
        return hidden


@architectures.register("mlp")
class MLP:
    """Multilayer perceptron: flatten, then linear (+batchnorm) + activation (+dropout) per hidden width, then linear auto."""

    Args = MLPArgs

    def layers(self, a: MLPArgs) -> list:
        items: list = ["flatten"]
        for width in a.hidden:
            items.append({"linear": width})
            items += ["batchnorm"] if a.batchnorm else []
            items.append(a.activation)
            items += [{"dropout": a.dropout}] if a.dropout > 0 else []
        return items + [{"linear": "auto"}]


class LeNetArgs(Args):
    activation: Activation = "tanh"


@architectures.register("lenet5")
class LeNet5:
    """LeNet-5 (LeCun et al. 1998) with padded convolutions: conv 6 k5, pool, conv 16 k5, pool, linear 120, 84, auto."""

    Args = LeNetArgs

    def layers(self, a: LeNetArgs) -> list:
        act = a.activation
        return [
            {"conv2d": {"out": 6, "kernel": 5, "padding": 2}}, act, {"avgpool": 2},
            # padding 2 (unlike the original) keeps 8x8 digits and 28x28 images both large enough
            {"conv2d": {"out": 16, "kernel": 5, "padding": 2}}, act, {"avgpool": 2},
            "flatten", {"linear": 120}, act, {"linear": 84}, act, {"linear": "auto"},
        ]


class ResNetArgs(Args):
    depth: int = Field(20, description="6n+2 weighted layers: 8, 14, 20, 32, 44, 56, 110, ...")
    width: int = Field(16, ge=1, description="channels of the first stage; the next two have 2x and 4x")

    @field_validator("depth")
    @classmethod
    def _six_n_plus_two(cls, depth):
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"resnet depth must be 6n+2 (8, 14, 20, ...), got {depth}")
        return depth


def basic_block(width: int, stride: int) -> list:
    """conv-bn-relu-conv-bn around a shortcut, then relu (He et al. 2016, CIFAR variant)."""
    conv = {"out": width, "kernel": 3, "padding": 1, "bias": False}  # the batchnorm shift replaces a bias
    body = [{"conv2d": {**conv, "stride": stride}}, "batchnorm", "relu", {"conv2d": conv}, "batchnorm"]
    return [{"residual": body}, "relu"]


@architectures.register("resnet")
class ResNet:
    """CIFAR ResNet (He et al. 2016): conv3x3, 3 stages of n basic blocks (width w, 2w, 4w; depth 6n+2), avgpool, linear."""

    Args = ResNetArgs

    def layers(self, a: ResNetArgs) -> list:
        n = (a.depth - 2) // 6
        items: list = [{"conv2d": {"out": a.width, "kernel": 3, "padding": 1, "bias": False}}, "batchnorm", "relu"]
        for stage in range(3):
            for block in range(n):
                stride = 2 if stage > 0 and block == 0 else 1  # halve the size where the width doubles
                items += basic_block(a.width * 2 ** stage, stride)
        return items + ["global_avgpool", {"linear": "auto"}]


def linear_model() -> list:
    return ["flatten", {"linear": "auto"}]


@architectures.register("perceptron")
class Perceptron:
    """Rosenblatt perceptron, flatten + linear auto; train with loss hinge (margin 0) for the perceptron criterion."""

    Args = NoArgs

    def layers(self, a: NoArgs) -> list:
        return linear_model()


@architectures.register("logistic_regression")
class LogisticRegression:
    """(Multinomial) logistic regression, flatten + linear auto giving logits; train with loss cross_entropy."""

    Args = NoArgs

    def layers(self, a: NoArgs) -> list:
        return linear_model()


@architectures.register("linear_svm")
class LinearSVM:
    """Linear support vector machine, flatten + linear auto; train with loss hinge (margin 1) plus weight decay."""

    Args = NoArgs

    def layers(self, a: NoArgs) -> list:
        return linear_model()


@architectures.register("gpt")
class GPT:
    """nanoGPT (Karpathy) language model: the `gpt` layer alone, (T,) token ids -> (T, vocab) next-token logits."""

    Args = GPTArgs

    def layers(self, a: GPTArgs) -> list:
        return [{"gpt": a.model_dump(exclude_defaults=True)}]
