"""Optimizers, by name: sgd (momentum, nesterov), adam, adamw, rmsprop, adagrad."""
from __future__ import annotations

from typing import Any

from pydantic import Field, NonNegativeFloat, PositiveFloat, model_validator

from dlcli.components import ComponentArgs
from dlcli.registry import Registry

optimizers = Registry("optimizer")


class OptArgs(ComponentArgs):
    lr: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat = 0.0


class Optimizer:
    Args = OptArgs
    torch_name = ""
    fusable = False  # torch has a fused (single-kernel) implementation

    def make(self, params: Any, a: OptArgs, fused: bool = False) -> Any:
        """`fused` asks for the fused implementation where there is one (CUDA runs)."""
        import torch

        extra = {"fused": True} if fused and self.fusable else {}
        return getattr(torch.optim, self.torch_name)(params, **a.model_dump(), **extra)


class SGDArgs(OptArgs):
    lr: PositiveFloat = 0.01
    momentum: float = Field(0.0, ge=0, lt=1)
    nesterov: bool = False
    dampening: NonNegativeFloat = 0.0

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> "SGDArgs":
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening 0")
        return self


@optimizers.register("sgd")
class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum and Nesterov momentum."""

    Args, torch_name = SGDArgs, "SGD"
    fusable = True


class AdamArgs(OptArgs):
    betas: tuple[float, float] = (0.9, 0.999)
    eps: PositiveFloat = 1e-8
    amsgrad: bool = False


@optimizers.register("adam")
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): adaptive moments; weight_decay is an L2 term in the gradient."""

    Args, torch_name = AdamArgs, "Adam"
    fusable = True


class AdamWArgs(AdamArgs):
    weight_decay: NonNegativeFloat = 0.01


@optimizers.register("adamw")
class AdamW(Optimizer):
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay."""

    Args, torch_name = AdamWArgs, "AdamW"
    fusable = True


class RMSpropArgs(OptArgs):
    lr: PositiveFloat = 1e-2
    alpha: float = Field(0.99, gt=0, lt=1)
    eps: PositiveFloat = 1e-8
    momentum: float = Field(0.0, ge=0, lt=1)
    centered: bool = False


@optimizers.register("rmsprop")
class RMSprop(Optimizer):
    """RMSProp (Hinton 2012): divide the gradient by a running RMS of recent gradients."""

    Args, torch_name = RMSpropArgs, "RMSprop"


class AdagradArgs(OptArgs):
    lr: PositiveFloat = 1e-2
    lr_decay: NonNegativeFloat = 0.0
    eps: PositiveFloat = 1e-10
    initial_accumulator_value: NonNegativeFloat = 0.0


@optimizers.register("adagrad")
class Adagrad(Optimizer):
    """AdaGrad (Duchi et al. 2011): per-parameter rates scaled by accumulated squared gradients."""

    Args, torch_name = AdagradArgs, "Adagrad"
