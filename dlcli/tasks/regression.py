"""Regression: float targets (N, T), mean squared error by default, MAE, RMSE and R²."""
from __future__ import annotations

from dlcli.tasks.base import Needs, tasks
from dlcli.tasks.supervised import Supervised


@tasks.register("regression")
class Regression(Supervised):
    """Predict T real values per sample; the network outputs one value per target."""

    needs = Needs(labels=("values",), infer_from="values")
    default_loss = "mse"
    default_metrics = ["mae", "rmse", "r2"]
    standardize_targets = True
    example = """
data: {source: diabetes}
model: [{linear: 16}, relu, {linear: auto}]
train: {epochs: 3, batch_size: 32, optimizer: {name: adam, lr: 0.01}}
"""
