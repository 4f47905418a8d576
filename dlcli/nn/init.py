"""Weight initialisers, named in a recipe as `model.init` or a layer's `init`.

Each one sets every parameter with two or more axes (weight matrices, kernels, embedding
tables) and zeroes the biases; norm scales and other 1-D parameters keep their defaults.
"""
from __future__ import annotations

from typing import Annotated, Any, Callable, Optional

from pydantic import AfterValidator, Field

from dlcli.nn.base import initializers
from dlcli.registry import UnknownName


def known_initializer(name: str) -> str:
    if name not in initializers:
        raise ValueError(UnknownName("initializer", name, initializers.names()).message)
    return name


# The type of every layer's `init` key: checked while planning, not first when building.
InitName = Optional[Annotated[str, AfterValidator(known_initializer)]]
InitField = Field(None, description="initialiser of this layer's weights (overrides model.init)")


def apply(module: Any, fill: Callable[[Any], Any]) -> None:
    """`fill` each parameter of `module` with >= 2 axes in place; zero those named *bias*."""
    import torch

    with torch.no_grad():
        for name, param in module.named_parameters():
            if "bias" in name.rsplit(".", 1)[-1]:
                param.zero_()
            elif param.dim() >= 2:
                fill(param)


@initializers.register("xavier")
def xavier(module: Any, node: Any) -> None:
    """Xavier/Glorot uniform (Glorot & Bengio 2010): variance 2/(fan_in+fan_out), for tanh/sigmoid nets; biases 0."""
    from torch import nn

    apply(module, nn.init.xavier_uniform_)


@initializers.register("glorot")
def glorot(module: Any, node: Any) -> None:
    """Alias of xavier: Glorot uniform, variance 2/(fan_in+fan_out); biases 0."""
    xavier(module, node)


@initializers.register("kaiming")
def kaiming(module: Any, node: Any) -> None:
    """Kaiming/He normal (He et al. 2015): variance 2/fan_in, for ReLU nets; biases 0."""
    from torch import nn

    apply(module, lambda p: nn.init.kaiming_normal_(p, mode="fan_in", nonlinearity="relu"))


@initializers.register("he")
def he(module: Any, node: Any) -> None:
    """Alias of kaiming: He normal, variance 2/fan_in; biases 0."""
    kaiming(module, node)


@initializers.register("orthogonal")
def orthogonal(module: Any, node: Any) -> None:
    """(Semi-)orthogonal weight matrices (Saxe et al. 2014), suited to recurrent layers; biases 0."""
    from torch import nn

    apply(module, nn.init.orthogonal_)


@initializers.register("normal")
def normal(module: Any, node: Any) -> None:
    """Normal with mean 0 and std 0.02 (GPT-2/BERT style); biases 0."""
    from torch import nn

    apply(module, lambda p: nn.init.normal_(p, mean=0.0, std=0.02))


@initializers.register("zeros")
def zeros(module: Any, node: Any) -> None:
    """All weights and biases 0 (for tests and linear baselines: it cannot break symmetry in hidden layers)."""
    from torch import nn

    apply(module, nn.init.zeros_)
