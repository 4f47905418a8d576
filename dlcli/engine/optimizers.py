"""Optimizers, by name: sgd (momentum, nesterov), adam, adamw, rmsprop, adagrad.

Each argument model carries the bounds torch's own optimizers need (and a few they do not check
but that make no sense, such as dampening above 1), so `dlcli validate` and the JSON Schema an
editor reads refuse them before a run starts. Every number must be finite.
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from dlcli.components import ComponentArgs
from dlcli.registry import Registry

optimizers = Registry("optimizer")

LR = "learning rate"
WEIGHT_DECAY = "L2 penalty added to the gradient"
EPS = "term added to the denominator for numerical stability"
Beta = Annotated[float, Field(ge=0, lt=1)]


class OptArgs(ComponentArgs):
    lr: float = Field(1e-3, gt=0, description=LR)
    weight_decay: float = Field(0.0, ge=0, description=WEIGHT_DECAY)


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
    lr: float = Field(0.01, gt=0, description=LR)
    momentum: float = Field(0.0, ge=0, lt=1, description="momentum factor (0: plain SGD)")
    nesterov: bool = Field(False, description="Nesterov momentum; needs momentum > 0 and dampening 0")
    dampening: float = Field(0.0, ge=0, le=1, description="fraction of each new gradient left out of the momentum")

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
    betas: tuple[Beta, Beta] = Field((0.9, 0.999), description="decay rates of the gradient's first and second "
                                     "moment estimates, each in [0, 1)")
    eps: float = Field(1e-8, gt=0, description=EPS)
    amsgrad: bool = Field(False, description="use the maximum of past second moments (AMSGrad)")


@optimizers.register("adam")
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): adaptive moments; weight_decay is an L2 term in the gradient."""

    Args, torch_name = AdamArgs, "Adam"
    fusable = True


class AdamWArgs(AdamArgs):
    weight_decay: float = Field(0.01, ge=0, description="decoupled weight decay, applied to the weights directly")


@optimizers.register("adamw")
class AdamW(Optimizer):
    """AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay."""

    Args, torch_name = AdamWArgs, "AdamW"
    fusable = True


class RMSpropArgs(OptArgs):
    lr: float = Field(1e-2, gt=0, description=LR)
    alpha: float = Field(0.99, gt=0, lt=1, description="smoothing constant of the running mean of squared gradients")
    eps: float = Field(1e-8, gt=0, description=EPS)
    momentum: float = Field(0.0, ge=0, lt=1, description="momentum factor")
    centered: bool = Field(False, description="normalise by the gradient's estimated variance, not its raw second moment")


@optimizers.register("rmsprop")
class RMSprop(Optimizer):
    """RMSProp (Hinton 2012): divide the gradient by a running RMS of recent gradients."""

    Args, torch_name = RMSpropArgs, "RMSprop"


class AdagradArgs(OptArgs):
    lr: float = Field(1e-2, gt=0, description=LR)
    lr_decay: float = Field(0.0, ge=0, description="learning-rate decay per step: lr / (1 + (step - 1) * lr_decay)")
    eps: float = Field(1e-10, gt=0, description=EPS)
    initial_accumulator_value: float = Field(0.0, ge=0, description="starting value of the sum of squared gradients")


@optimizers.register("adagrad")
class Adagrad(Optimizer):
    """AdaGrad (Duchi et al. 2011): per-parameter rates scaled by accumulated squared gradients."""

    Args, torch_name = AdagradArgs, "Adagrad"
