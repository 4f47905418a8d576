"""Classification: integer class targets, cross-entropy by default, accuracy and macro F1."""
from __future__ import annotations

from dlcli.tasks.base import Supervised, tasks


@tasks.register("classification")
class Classification(Supervised):
    """Assign each sample one of N classes; the network outputs one score per class."""

    name = "classification"
    default_loss = "cross_entropy"
    default_metrics = ["accuracy", "macro_f1"]
    default_monitor = "val.loss"

    def targets(self, y, device):
        import torch

        return torch.as_tensor(y, dtype=torch.long, device=device)
