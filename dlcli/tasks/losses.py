"""Losses, by name. Each knows the labels it takes, how many outputs it wants and whether it takes the
soft targets that mixup produces. Arguments are bounded and finite, so validation catches them."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from dlcli.components import ComponentArgs
from dlcli.registry import Registry

losses = Registry("loss")


class LossArgs(ComponentArgs):
    """Base of every loss's arguments: unknown keys are errors, numbers are finite."""


class Loss:
    Args = LossArgs
    labels = "classes"  # the label kind it scores
    soft_targets = False

    def outputs(self, n: int) -> int:
        """Network outputs for n classes (classification) or n targets (regression)."""
        return n

    def make(self, a: Any):
        raise NotImplementedError


class CrossEntropyArgs(LossArgs):
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="mass moved from the true class to a uniform "
                                   "distribution over all classes")


@losses.register("cross_entropy")
class CrossEntropy(Loss):
    """Softmax cross-entropy on logits; takes class indices or soft targets; label smoothing."""

    Args, soft_targets = CrossEntropyArgs, True

    def make(self, a):
        from torch.nn import functional as F

        return lambda out, y: F.cross_entropy(out, y, label_smoothing=a.label_smoothing)


@losses.register("nll")
class NLL(Loss):
    """Negative log-likelihood of log-probabilities (end the model with log_softmax)."""

    soft_targets = True

    def make(self, a):
        from torch.nn import functional as F

        def nll(out, y):
            return F.nll_loss(out, y) if y.ndim == 1 else -(y * out).sum(1).mean()

        return nll


@losses.register("bce")
class BCE(Loss):
    """Binary cross-entropy on logits: one output for two classes, one per class otherwise."""

    soft_targets = True

    def outputs(self, n):
        return 1 if n == 2 else n

    def make(self, a):
        import torch
        from torch.nn import functional as F

        def bce(out, y):
            target = y if y.ndim == 2 else F.one_hot(y, max(out.shape[1], 2)).to(out.dtype)
            if out.shape[1] == 1:  # binary: the one logit scores class 1
                target = target[:, 1:]
            return F.binary_cross_entropy_with_logits(out, target.to(out.dtype))

        return bce


class HingeArgs(LossArgs):
    margin: float = Field(1.0, ge=0, description="1 for the SVM; 0 gives the perceptron criterion")
    p: int = Field(1, ge=1, le=2, description="1 hinge, 2 squared hinge")


@losses.register("hinge")
class Hinge(Loss):
    """Multi-class hinge (Crammer-Singer style margin loss) for linear SVMs and perceptrons."""

    Args = HingeArgs

    def make(self, a):
        from torch.nn import functional as F

        return lambda out, y: F.multi_margin_loss(out, y, p=a.p, margin=a.margin)


class _Regression(Loss):
    labels = "values"  # the label kind it scores


@losses.register("mse")
class MSE(_Regression):
    """Mean squared error."""

    def make(self, a):
        from torch.nn import functional as F

        return F.mse_loss


@losses.register("l1")
class L1(_Regression):
    """Mean absolute error."""

    def make(self, a):
        from torch.nn import functional as F

        return F.l1_loss


class HuberArgs(LossArgs):
    delta: float = Field(1.0, gt=0, description="distance from the target where the loss turns from quadratic to linear")


@losses.register("huber")
class Huber(_Regression):
    """Huber loss: quadratic within delta of the target, linear beyond (robust to outliers)."""

    Args = HuberArgs

    def make(self, a):
        from torch.nn import functional as F

        return lambda out, y: F.huber_loss(out, y, delta=a.delta)
