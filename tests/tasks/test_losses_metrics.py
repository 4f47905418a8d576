"""Losses (every registered name) and metrics (against hand-computed and scikit-learn values)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from dlcli.tasks.losses import losses
from dlcli.tasks.metrics import metrics
from dlcli.tasks.metrics import class_scores, direction, metrics

B = 12


def make_loss(name: str, **kwargs):
    entry = losses.get(name)()
    return entry, entry.make(entry.Args(**kwargs))


def batch(entry, n: int, seed: int = 0):
    """Outputs (requiring grad) and targets that match the loss's task, for n classes or targets."""
    g = torch.Generator().manual_seed(seed)
    out = torch.randn(B, entry.outputs(n), generator=g)
    if entry.labels == "classes":
        y = torch.arange(B) % n  # every class present
        if isinstance(entry, losses.get("nll")):  # nll takes log-probabilities
            out = out.log_softmax(1)
    else:
        y = torch.randn(B, n, generator=g)
    return out.detach().requires_grad_(True), y


# --------------------------------------------------------------------------------------------------- losses


def test_every_loss_and_metric_scores_a_label_kind_some_task_trains_on():
    from dlcli.tasks import tasks

    kinds = {kind for name in tasks.names() for kind in tasks.get(name).needs.labels}
    for entry in [losses.get(n) for n in losses.names()] + [metrics.get(n) for n in metrics.names()]:
        assert entry.labels in kinds and entry.labels in ("classes", "values", "sequences"), entry


@pytest.mark.parametrize("name", losses.names())
def test_output_count(name):
    entry = losses.get(name)()
    if name == "bce":
        assert entry.outputs(2) == 1  # one logit scores class 1
        assert entry.outputs(3) == 3
    else:
        assert entry.outputs(2) == 2 and entry.outputs(3) == 3 and entry.outputs(1) == 1


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", losses.names())
def test_loss_is_a_finite_scalar_and_gradients_flow(name, n):
    entry, fn = make_loss(name)
    out, y = batch(entry, n)
    loss = fn(out, y)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert loss.item() >= 0
    loss.backward()
    assert out.grad is not None and out.grad.shape == out.shape
    assert torch.isfinite(out.grad).all() and out.grad.abs().sum() > 0


@pytest.mark.parametrize("name", losses.names())
def test_loss_is_smaller_for_better_outputs(name):
    """A loss must point the right way: outputs that match the targets score lower than random ones."""
    entry, fn = make_loss(name)
    out, y = batch(entry, 3)
    if entry.labels == "classes":
        good = torch.nn.functional.one_hot(y, 3).float() * 10 - 5
        if name == "nll":
            good = good.log_softmax(1)
    else:
        good = y.clone()
    assert fn(good, y).item() < fn(out.detach(), y).item()


SOFT = [name for name in losses.names() if losses.get(name).soft_targets]


def test_the_mixup_losses_take_soft_targets():
    assert set(SOFT) >= {"cross_entropy", "nll", "bce"}
    assert not losses.get("hinge").soft_targets


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("name", SOFT)
def test_soft_one_hot_targets_equal_hard_targets(name, n):
    entry, fn = make_loss(name)
    out, y = batch(entry, n)
    soft = torch.nn.functional.one_hot(y, n).float()
    assert soft.shape == (B, n)
    assert fn(out, soft).item() == pytest.approx(fn(out, y).item(), rel=1e-6)


@pytest.mark.parametrize("name", SOFT)
def test_soft_targets_mix_linearly(name):
    """Mixup: a lam/(1-lam) mix of two one-hot targets gives the same mix of the two losses."""
    entry, fn = make_loss(name)
    out, y = batch(entry, 3)
    y2 = (y + 1) % 3
    lam = 0.3
    mixed = lam * torch.nn.functional.one_hot(y, 3).float() + (1 - lam) * torch.nn.functional.one_hot(y2, 3).float()
    loss = fn(out, mixed)
    assert loss.item() == pytest.approx(lam * fn(out, y).item() + (1 - lam) * fn(out, y2).item(), rel=1e-5)
    loss.backward()
    assert torch.isfinite(out.grad).all()


def test_label_smoothing_treats_soft_and_hard_targets_alike():
    entry, fn = make_loss("cross_entropy", label_smoothing=0.1)
    out, y = batch(entry, 3)
    assert fn(out, torch.nn.functional.one_hot(y, 3).float()).item() == pytest.approx(fn(out, y).item(), rel=1e-6)


def test_label_smoothing_changes_cross_entropy():
    _, plain = make_loss("cross_entropy")
    _, smooth = make_loss("cross_entropy", label_smoothing=0.1)
    out = torch.tensor([[5.0, -5.0], [-5.0, 5.0]])
    y = torch.tensor([0, 1])
    assert smooth(out, y).item() > plain(out, y).item()


def test_bce_single_logit_matches_sigmoid_cross_entropy():
    _, fn = make_loss("bce")
    z = torch.tensor([[2.0], [-1.0], [0.5]])
    y = torch.tensor([1, 0, 0])
    p = torch.sigmoid(z[:, 0])
    expected = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    assert fn(z, y).item() == pytest.approx(expected.item(), rel=1e-6)


def test_huber_delta_and_hinge_margin_are_used():
    out, y = torch.tensor([[3.0]]), torch.tensor([[0.0]])
    assert make_loss("huber", delta=1.0)[1](out, y).item() == pytest.approx(2.5)  # delta * (|r| - delta / 2)
    assert make_loss("huber", delta=5.0)[1](out, y).item() == pytest.approx(4.5)  # r^2 / 2
    scores, target = torch.tensor([[1.0, 0.5]]), torch.tensor([0])
    assert make_loss("hinge")[1](scores, target).item() == pytest.approx(0.25)  # max(0, 1 - 1 + 0.5) / C
    assert make_loss("hinge", margin=0.0)[1](scores, target).item() == 0.0


# -------------------------------------------------------------------------------------------------- metrics


def metric(name: str, out, y):
    return metrics.get(name)()(out, y)


def random_classification(n: int = 60, c: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g), torch.randint(0, c, (n,), generator=g)


@pytest.mark.parametrize("name", metrics.names())
def test_every_metric_runs_on_its_task(name):
    m = metrics.get(name)()
    if m.labels == "classes":
        out, y = random_classification()
    elif m.labels == "sequences":  # decoded ids against targets, each ending in <eos> (2) then <pad> (0)
        out, y = torch.tensor([[3, 2, 0], [4, 4, 2]]), torch.tensor([[3, 2, 0], [4, 5, 2]])
    else:
        out, y = torch.randn(20, 2), torch.randn(20, 2)
    value = m(out, y)
    if m.scalar:
        assert isinstance(value, float) and math.isfinite(value)
    else:
        assert isinstance(value, list)


def test_accuracy_by_hand():
    out = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
    y = torch.tensor([0, 1, 0, 1])
    assert metric("accuracy", out, y) == pytest.approx(0.5)
    assert metric("accuracy", out, torch.nn.functional.one_hot(y, 3).float()) == pytest.approx(0.5)


def test_top_k_by_hand():
    out = torch.tensor([
        [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],  # y=2: rank 3
        [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],  # y=3: rank 4
        [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],  # y=5: rank 6
        [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],  # y=5: rank 1
    ])
    y = torch.tensor([2, 3, 5, 5])
    assert metric("accuracy", out, y) == pytest.approx(0.25)
    assert metric("top3", out, y) == pytest.approx(0.5)
    assert metric("top5", out, y) == pytest.approx(0.75)


def test_top_k_with_fewer_classes_than_k_is_one():
    out, y = random_classification(c=3)
    assert metric("top3", out, y) == 1.0 and metric("top5", out, y) == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_f1_matches_sklearn(seed):
    out, y = random_classification(seed=seed)
    pred = out.argmax(1)
    assert metric("macro_f1", out, y) == pytest.approx(skm.f1_score(y.numpy(), pred.numpy(), average="macro"))


def test_macro_f1_with_a_class_never_seen_or_predicted_matches_sklearn():
    out = torch.tensor([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [2.0, 0, 0, 0], [0, 0, 2.0, 0], [0, 2.0, 0, 0]])
    y = torch.tensor([0, 1, 1, 2, 2])  # class 3 absent from targets and predictions
    expected = skm.f1_score(y.numpy(), out.argmax(1).numpy(), average="macro")
    assert metric("macro_f1", out, y) == pytest.approx(expected)
    # by hand: class 0 F1 = 2/3, class 1 F1 = 1/2, class 2 F1 = 2/3
    assert metric("macro_f1", out, y) == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)


def test_confusion_matrix_matches_sklearn():
    out, y = random_classification(c=4)
    cm = metric("confusion_matrix", out, y)
    assert cm == skm.confusion_matrix(y.numpy(), out.argmax(1).numpy(), labels=range(4)).tolist()
    assert sum(map(sum, cm)) == len(y)


def test_confusion_matrix_rows_are_true_classes():
    out = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    y = torch.tensor([0, 1, 0])
    assert metric("confusion_matrix", out, y) == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_single_logit_binary_class_scores():
    z = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]])
    scores = class_scores(z)
    assert scores.shape == (4, 2)
    assert torch.allclose(scores.softmax(1)[:, 1], torch.sigmoid(z[:, 0]))
    y = torch.tensor([1, 0, 0, 1])  # predictions are 1, 0, 1, 0
    assert metric("accuracy", z, y) == pytest.approx(0.5)
    assert metric("confusion_matrix", z, y) == [[1, 1], [1, 1]]
    assert metric("macro_f1", z, y) == pytest.approx(skm.f1_score(y.numpy(), [1, 0, 1, 0], average="macro"))
    wide = torch.randn(3, 4)
    assert class_scores(wide) is wide


def regression_pair(seed: int = 0, t: int = 3):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(40, t))
    out = y + rng.normal(scale=0.5, size=(40, t))
    return torch.tensor(out, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)


@pytest.mark.parametrize("t", [1, 3])
def test_regression_metrics_match_sklearn(t):
    out, y = regression_pair(t=t)
    o, yy = out.numpy(), y.numpy()
    assert metric("mae", out, y) == pytest.approx(skm.mean_absolute_error(yy, o))
    assert metric("rmse", out, y) == pytest.approx(math.sqrt(skm.mean_squared_error(yy, o)))
    assert metric("r2", out, y) == pytest.approx(skm.r2_score(yy, o))


def test_regression_metrics_by_hand():
    out, y = torch.tensor([[1.0], [2.0], [5.0]]), torch.tensor([[1.0], [3.0], [3.0]])
    assert metric("mae", out, y) == pytest.approx(1.0)
    assert metric("rmse", out, y) == pytest.approx(math.sqrt(5 / 3))
    # ss_res = 0 + 1 + 4 = 5, mean 7/3, ss_tot = 16/9 + 4/9 + 4/9 = 24/9
    assert metric("r2", out, y) == pytest.approx(1 - 5 / (24 / 9))
    assert metric("r2", y, y) == pytest.approx(1.0)


def test_direction():
    assert direction("val.accuracy") == "maximize"
    assert direction("val.macro_f1") == "maximize"
    assert direction("val.r2") == "maximize"
    assert direction("val.loss") == "minimize"
    assert direction("train.loss") == "minimize"
    assert direction("val.mae") == "minimize"
    assert direction("val.rmse") == "minimize"


def test_metric_directions_match_their_meaning():
    higher = {n for n in metrics.names() if metrics.get(n).higher_is_better}
    assert higher >= {"accuracy", "top3", "top5", "macro_f1", "r2"}
    assert not higher & {"mae", "rmse"}
