"""Metrics, by name, computed on a whole split's outputs at once."""
from __future__ import annotations

from typing import Any

from dlcli.registry import Registry

metrics = Registry("metric")


class Metric:
    labels = "classes"  # the label kind it scores
    higher_is_better = True
    scalar = True  # a confusion matrix is reported but never monitored
    unit_scale = True  # a value on a 0..1 scale: `dlcli check` gives it an absolute default tolerance

    def __call__(self, out: Any, y: Any) -> Any:
        raise NotImplementedError


def class_scores(out):
    """(N, C) class scores; a single binary logit z becomes (0, z), whose softmax is sigmoid(z)."""
    import torch

    return torch.cat([torch.zeros_like(out), out], 1) if out.shape[1] == 1 else out


def hard(y):
    return y.argmax(1) if y.ndim == 2 else y


@metrics.register("accuracy")
class Accuracy(Metric):
    """Fraction of samples whose top-scoring class is the true class."""

    def __call__(self, out, y):
        return (class_scores(out).argmax(1) == hard(y)).float().mean().item()


class TopK(Metric):
    k = 5

    def __call__(self, out, y):
        scores = class_scores(out)
        top = scores.topk(min(self.k, scores.shape[1]), dim=1).indices
        return (top == hard(y)[:, None]).any(1).float().mean().item()


@metrics.register("top3")
class Top3(TopK):
    """Fraction of samples whose true class is among the 3 top-scoring classes."""

    k = 3


@metrics.register("top5")
class Top5(TopK):
    """Fraction of samples whose true class is among the 5 top-scoring classes."""

    k = 5


def confusion(out, y):
    import torch

    scores = class_scores(out)
    n = scores.shape[1]
    idx = hard(y) * n + scores.argmax(1)
    return torch.bincount(idx, minlength=n * n).reshape(n, n)


@metrics.register("macro_f1")
class MacroF1(Metric):
    """F1 score averaged over classes with equal weight (classes in neither targets nor predictions are left out)."""

    def __call__(self, out, y):
        cm = confusion(out, y).double()
        tp = cm.diag()
        denom = cm.sum(0) + cm.sum(1)
        present = denom > 0
        return (2 * tp[present] / denom[present]).mean().item() if present.any() else 0.0


@metrics.register("confusion_matrix")
class ConfusionMatrix(Metric):
    """Counts of (true class, predicted class) pairs; rows are true classes."""

    scalar = False

    def __call__(self, out, y):
        return confusion(out, y).tolist()


class _Regression(Metric):
    labels = "values"  # the label kind it scores
    higher_is_better = False
    unit_scale = False  # in target units: a relative default tolerance


@metrics.register("mae")
class MAE(_Regression):
    """Mean absolute error over every target."""

    def __call__(self, out, y):
        return (out - y).abs().mean().item()


@metrics.register("rmse")
class RMSE(_Regression):
    """Root mean squared error over every target."""

    def __call__(self, out, y):
        return (out - y).pow(2).mean().sqrt().item()


@metrics.register("r2")
class R2(_Regression):
    """Coefficient of determination, averaged over targets (1 is perfect, 0 predicts the mean)."""

    higher_is_better = True
    unit_scale = True

    def __call__(self, out, y):
        ss_res = (y - out).pow(2).sum(0)
        ss_tot = (y - y.mean(0)).pow(2).sum(0).clamp_min(1e-12)
        return (1 - ss_res / ss_tot).mean().item()


class _Sequences(Metric):
    """Scores decoded token sequences (N, T') against targets (N, T), both <eos>-terminated and
    <pad>-filled (id 0), over each target's tokens and its <eos>."""

    labels = "sequences"


@metrics.register("token_accuracy")
class TokenAccuracy(_Sequences):
    """Fraction of target tokens (each <eos> included) that the decoded sequence has at the same position."""

    def __call__(self, out, y):
        from dlcli.tasks.decoding import scores

        right, total = scores(out, y, 0)
        return float(right.sum() / max(1, total.sum()))


@metrics.register("sequence_accuracy")
class SequenceAccuracy(_Sequences):
    """Fraction of sequences decoded exactly: every target token and the <eos> right (exact match)."""

    def __call__(self, out, y):
        from dlcli.tasks.decoding import scores

        right, total = scores(out, y, 0)
        return float((right == total).mean()) if len(right) else 0.0


def direction(monitor: str) -> str:
    """"val.accuracy" -> "maximize"; losses and error metrics -> "minimize"."""
    name = monitor.split(".", 1)[-1]
    if name in metrics:
        return "maximize" if metrics.get(name).higher_is_better else "minimize"
    return "minimize"


def unit_scale(name: str) -> bool:
    """Whether "val.accuracy"'s metric is a 0..1 score; losses and errors in data units are not."""
    metric = name.split(".", 1)[-1]
    return metric in metrics and metrics.get(metric).unit_scale
