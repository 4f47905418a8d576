"""Classification: integer class targets, cross-entropy by default, accuracy and macro F1."""
from __future__ import annotations

from dlcli.tasks.base import Needs, tasks
from dlcli.tasks.supervised import Supervised


@tasks.register("classification")
class Classification(Supervised):
    """Assign each sample one of N classes; the network outputs one score per class."""

    needs = Needs(labels=("classes",), infer_from="classes")
    default_loss = "cross_entropy"
    default_metrics = ["accuracy", "macro_f1"]
    eval_extras = ["confusion_matrix"]
    example = """
data: {source: iris}
model: [{linear: 16}, relu, {linear: auto}]
train: {epochs: 3, batch_size: 32, optimizer: {name: adam, lr: 0.01}}
"""
