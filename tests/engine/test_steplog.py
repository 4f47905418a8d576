"""StepLog: the per-step scalars of an epoch, checked in batches."""
import math

import pytest
import torch

from dlcli.engine.loop import Diverged, StepLog


def test_means_cover_the_steps_that_reported_each_name():
    log = StepLog(4, torch.device("cpu"))
    log.put(0, {"loss": torch.tensor(1.0), "extra": 10.0})
    log.put(1, {"loss": torch.tensor([3.0])})  # a (1,) tensor counts as a scalar
    log.check(epoch=1)
    log.put(2, {"loss": torch.tensor(5.0), "extra": torch.tensor(20.0, dtype=torch.float64)})
    log.put(3, {"loss": torch.tensor(7.0)})
    log.check(epoch=1)
    means = log.means(type("Single", (), {"mean": staticmethod(lambda t: t)})())
    assert means == {"train.loss": 4.0, "train.extra": 15.0}
    assert log.latest(3) == {"loss": 7.0}
    assert log.latest(2) == {"loss": 5.0, "extra": 20.0}


def test_the_first_non_finite_scalar_is_named_with_its_step():
    log = StepLog(5, torch.device("cpu"))
    for i, v in enumerate([1.0, 2.0, math.inf, math.nan]):
        log.put(i, {"loss": torch.tensor(1.0), "g_loss": torch.tensor(v)})
    with pytest.raises(Diverged, match=r"the g_loss became inf at epoch 3, step 3"):
        log.check(epoch=3)
