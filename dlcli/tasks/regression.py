"""Regression: float targets (N, T), mean squared error by default, MAE, RMSE and R²."""
from __future__ import annotations

from dlcli.tasks.base import Supervised, tasks


@tasks.register("regression")
class Regression(Supervised):
    """Predict T real values per sample; the network outputs one value per target."""

    name = "regression"
    default_loss = "mse"
    default_metrics = ["mae", "rmse", "r2"]
    default_monitor = "val.loss"

    def targets(self, y, device):
        import torch

        t = torch.as_tensor(y, dtype=torch.float32, device=device)
        return t[:, None] if t.ndim == 1 else t
