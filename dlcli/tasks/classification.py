"""Classification: integer class targets, cross-entropy by default, accuracy and macro F1.
Data that says each sample's length (the algorithmic sequences) also gets accuracy length by
length, longer-than-trained lengths flagged: that is where a sequence model's generalisation shows."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from dlcli.tasks.base import Needs, tasks
from dlcli.tasks.supervised import Supervised


@tasks.register("classification")
class Classification(Supervised):
    """Assign each sample one of N classes; the network outputs one score per class."""

    needs = Needs(labels=("classes",), infer_from="classes")
    default_loss = "cross_entropy"
    default_metrics = ["accuracy", "macro_f1"]
    eval_extras = ["confusion_matrix"]
    predicts_probabilities = True

    def probabilities(self, x: Any, fit: Any) -> Any:
        """Softmax of the class scores, batched, in eval mode."""
        from dlcli.tasks.base import predict_batched

        net = fit.nets["net"]
        was = net.training
        net.eval()
        try:
            with fit.autocast() if fit.autocast else nullcontext():
                return predict_batched(net, x, fit.eval_batch_size).softmax(1)
        finally:
            net.train(was)

    def breakdown(self, out: Any, y: Any, split: str, fit: Any) -> dict:
        """`per_length`: accuracy of each source length, when the data gives the lengths."""
        from dlcli.tasks.seq2seq_data import length_groups

        if fit.data.dataset.extra.get("lengths") is None:
            return {}
        trained, right = fit.data.dataset.extra.get("train_max_len"), out.argmax(1) == y
        return {"per_length": [{"length": n, "samples": len(idx), "beyond_training": trained is not None and n > trained,
                                "accuracy": right[idx].float().mean().item()} for n, idx in length_groups(fit, split)]}
    example = """
data: {source: iris}
model: [{linear: 16}, relu, {linear: auto}]
train: {epochs: 3, batch_size: 32, optimizer: {name: adam, lr: 0.01}}
"""
